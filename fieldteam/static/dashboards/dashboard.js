/* Dashboards: the little behaviour the pages have, kept out of the HTML (no inline handlers under
   the Content-Security-Policy). A picker marked data-autosubmit sends its form when changed. */
"use strict";
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.submit();
});

/* An indicator card's details (targets, chart, trend) open one at a time on a phone, and the long
   sections (details.fold) start folded, so that the page stays short; a screen wide enough for a
   grid of cards shows them all. */
const WIDE = window.matchMedia("(min-width: 720px)");
function openAllDetailsWhenWide() {
  for (const details of document.querySelectorAll("details.more, details.fold")) {
    if (WIDE.matches) {
      details.dataset.name = details.dataset.name || details.getAttribute("name") || "";
      details.removeAttribute("name");
      details.open = true;
    } else if (details.dataset.name) {
      details.setAttribute("name", details.dataset.name);
    }
  }
}
openAllDetailsWhenWide();
WIDE.addEventListener("change", openAllDetailsWhenWide);

/* The long sections fold on a phone too; a link to one (the page's table of contents) unfolds it. */
function openLinkedSection() {
  const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  const fold = target && (target.querySelector(":scope > details.fold") || target.closest("details.fold"));
  if (fold) fold.open = true;
}
openLinkedSection();
window.addEventListener("hashchange", openLinkedSection);
