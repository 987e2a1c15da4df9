from sac.cli import main

main()
