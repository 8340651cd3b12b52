// Ranking form: drag a response to reorder, or focus it and press 1..9 to give it that rank;
// Alt+ArrowUp / Alt+ArrowDown move it. Reordering renumbers the ranks 1..n in list order; typed
// ranks may repeat (a tie). The selects stay the form's truth, so the page works without this file.
(function () {
  "use strict";

  function items(list) { return Array.prototype.slice.call(list.querySelectorAll("[data-rank-slot]")); }

  function renumber(list) {
    items(list).forEach(function (li, i) {
      const select = li.querySelector("[data-rank-input]");
      if (select) select.value = String(i + 1);
    });
    const form = list.closest("form");
    if (form) form.dispatchEvent(new Event("change", { bubbles: true }));
  }

  let dragged = null;

  document.addEventListener("dragstart", function (ev) {
    const li = ev.target.closest && ev.target.closest("[data-rank-slot]");
    if (!li) return;
    dragged = li;
    li.classList.add("dragging");
    ev.dataTransfer.effectAllowed = "move";
    ev.dataTransfer.setData("text/plain", li.dataset.rankSlot);
  });

  document.addEventListener("dragover", function (ev) {
    const over = ev.target.closest && ev.target.closest("[data-rank-slot]");
    if (!dragged || !over || over === dragged || over.parentNode !== dragged.parentNode) return;
    ev.preventDefault();
    const box = over.getBoundingClientRect();
    const after = ev.clientY > box.top + box.height / 2;
    over.parentNode.insertBefore(dragged, after ? over.nextSibling : over);
  });

  document.addEventListener("dragend", function () {
    if (!dragged) return;
    dragged.classList.remove("dragging");
    renumber(dragged.parentNode);
    dragged = null;
  });

  document.addEventListener("keydown", function (ev) {
    const li = ev.target.closest && ev.target.closest("[data-rank-slot]");
    if (!li || ev.target !== li) return; // keys act on the focused card, not inside its select
    const list = li.parentNode;
    if (ev.altKey && (ev.key === "ArrowUp" || ev.key === "ArrowDown")) {
      const sibling = ev.key === "ArrowUp" ? li.previousElementSibling : li.nextElementSibling;
      if (sibling) {
        list.insertBefore(li, ev.key === "ArrowUp" ? sibling : sibling.nextSibling);
        renumber(list);
        li.focus();
      }
      ev.preventDefault();
      ev.stopPropagation();
      return;
    }
    if (/^[1-9]$/.test(ev.key) && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      const select = li.querySelector("[data-rank-input]");
      if (select && Number(ev.key) <= items(list).length) {
        select.value = ev.key;
        select.dispatchEvent(new Event("change", { bubbles: true }));
        const next = li.nextElementSibling;
        if (next) next.focus();
      }
      ev.preventDefault();
      ev.stopPropagation();
    }
  }, true);
})();
