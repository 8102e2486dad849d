/* Dashboards: the little behaviour the pages have, kept out of the HTML (no inline handlers under
   the Content-Security-Policy). A picker marked data-autosubmit sends its form when changed. */
"use strict";
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.submit();
});
