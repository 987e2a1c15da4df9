// The sign-in answer's session key goes to this origin's localStorage (per port, unlike
// the cookie; sac/listen/web.py says why), and the one-time link leaves the history.
"use strict";
const meta = document.querySelector('meta[name="sac-key"]');
if (meta) {
  localStorage.setItem("sac-key", meta.content);
  meta.remove();
}
location.replace("/ui/");
