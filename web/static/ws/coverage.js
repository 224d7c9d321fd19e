// The coverage board: every district's row printed (a closed <details> would print nothing).
"use strict";
window.addEventListener("beforeprint", () => {
  document.querySelectorAll("details.districts").forEach((d) => { d.open = true; });
});
