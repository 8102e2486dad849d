/* fieldteam: accessible names the admin's widgets lack (WCAG 4.1.2, 1.3.1), on every admin page.

   - An autocomplete (select2) shows a combobox of its own: it takes the name of the field's label.
   - A tabular inline's fields have their column heading as their only label: it becomes their name.
   - A date-and-time field's two boxes (Django's label points at neither): the field's label and the
     box's own caption ("Date", "Time") become their names.
   - The filter box's icon of a two-list picker (filter_horizontal) carries an aria-label, which a
     plain span may not (axe aria-prohibited-attr): it becomes an image with that name. */
"use strict";
(function () {
  function labelText(id) {
    const label = id && document.querySelector(`label[for="${CSS.escape(id)}"]`);
    return label ? label.textContent.replace(/[:*]\s*$/, "").trim() : "";
  }

  function nameAutocompletes(root) {
    for (const select of root.querySelectorAll("select.admin-autocomplete, select[data-autocomplete-light-function], select.select2-hidden-accessible")) {
      const name = labelText(select.id) || select.getAttribute("aria-label") || select.name;
      const container = select.nextElementSibling;
      if (!name || !container || !container.classList.contains("select2")) continue;
      for (const el of container.querySelectorAll(".select2-selection, .select2-selection__rendered, .select2-search__field")) {
        if (!el.getAttribute("aria-label")) el.setAttribute("aria-label", name);
        el.removeAttribute("aria-labelledby");
      }
    }
  }

  function nameInlineFields(root) {
    for (const table of root.querySelectorAll(".tabular table")) {
      const headings = Array.from(table.querySelectorAll("thead th")).map((th) => th.textContent.trim());
      for (const row of table.querySelectorAll("tbody tr")) {
        Array.from(row.children).forEach((cell, index) => {
          const heading = headings[index];
          if (!heading) return;
          for (const field of cell.querySelectorAll("input:not([type=hidden]), select, textarea")) {
            if (!labelText(field.id) && !field.getAttribute("aria-label")) field.setAttribute("aria-label", heading);
          }
        });
      }
    }
  }

  function nameSplitDateTimes(root) {
    for (const box of root.querySelectorAll("p.datetime input:not([type=hidden])")) {
      if (labelText(box.id) || box.getAttribute("aria-label")) continue;
      const row = box.closest(".form-row, .fieldBox, td");
      const field = row && row.querySelector("label") ? row.querySelector("label").textContent.replace(/[:*]\s*$/, "").trim() : "";
      let caption = box.previousSibling;
      while (caption && caption.nodeType !== Node.TEXT_NODE) caption = caption.previousSibling;
      const own = caption ? caption.textContent.replace(/[:\s]+$/, "").trim() : "";
      const name = [field, own].filter(Boolean).join(" – ");
      if (name) box.setAttribute("aria-label", name);
    }
  }

  function nameIcons(root) {
    for (const icon of root.querySelectorAll("span.help-tooltip[aria-label]:not([role])")) icon.setAttribute("role", "img");
  }

  function run() {
    nameAutocompletes(document);
    nameInlineFields(document);
    nameSplitDateTimes(document);
    nameIcons(document);
  }

  // Now, and again whenever widgets appear: select2 is set up on jQuery's ready (which may come
  // after this), inline rows are added by a tap.
  let pending = false;
  function soon() {
    if (pending) return;
    pending = true;
    setTimeout(() => { pending = false; run(); }, 0);
  }
  run();
  new MutationObserver(soon).observe(document.body, { childList: true, subtree: true });
})();
