// Ranking form: drag a response to reorder, or focus it and press 1..9 to give it that rank;
// Alt+ArrowUp / Alt+ArrowDown move it; with no card focused a digit ranks the first unranked one. Reordering renumbers the ranks 1..n in list order; typed
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

  // A digit typed before any card has focus (the item just opened) ranks the first unranked card,
  // as Likert's digits rate the first unrated aspect; fields, dialogs and the overlay keep their keys.
  function firstUnranked(target) {
    if (target.closest && target.closest("input, select, textarea, button, dialog, [contenteditable]")) return null;
    const overlay = document.getElementById("shortcuts");
    if (overlay && !overlay.hidden) return null;
    const list = document.querySelector("[data-rank-list]");
    if (!list) return null;
    return items(list).find(function (li) {
      const select = li.querySelector("[data-rank-input]");
      return select && !select.value;
    }) || null;
  }

  document.addEventListener("keydown", function (ev) {
    let li = ev.target.closest && ev.target.closest("[data-rank-slot]");
    if (li && ev.target !== li) return; // keys act on the focused card, not inside its select
    if (!li && /^[1-9]$/.test(ev.key) && !ev.ctrlKey && !ev.metaKey && !ev.altKey) li = firstUnranked(ev.target);
    if (!li) return;
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
