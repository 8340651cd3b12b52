// Tandem workspace: keyboard-first labelling, time on task, skip dialog, shortcuts overlay.
(function () {
  "use strict";

  const PAIR_KEYS = { a: "-2", t: "0", b: "2" };
  let activeMs = 0;
  let shownAt = performance.now();
  let clockFor = null;  // the assignment being timed; an error re-render keeps counting

  function form() { return document.getElementById("item-form"); }
  function overlay() { return document.getElementById("shortcuts"); }
  function skipDialog() { return document.getElementById("skip-dialog"); }

  function isTyping(el) {
    if (!el) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    return el.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(el.type);
  }

  // Time on task counts only while the tab is visible.
  function resetClock() { activeMs = 0; shownAt = performance.now(); }
  function elapsed() {
    return Math.round(activeMs + (document.hidden ? 0 : performance.now() - shownAt));
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) activeMs += performance.now() - shownAt;
    else shownAt = performance.now();
  });

  function choose(name, value) {
    const f = form();
    if (!f) return false;
    const input = f.querySelector('input[name="' + name + '"][value="' + value + '"]');
    if (!input) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    input.closest("label")?.classList.add("pulse");
    setTimeout(function () { input.closest("label")?.classList.remove("pulse"); }, 250);
    return true;
  }

  function toggleNth(name, n) {
    const f = form();
    const boxes = f ? f.querySelectorAll('input[name="' + name + '"]') : [];
    const box = boxes[n - 1];
    if (!box) return false;
    box.checked = !box.checked;
    if (box.checked && name === "failed_principles") choose("thumbs", "down");
    box.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function submitForm() {
    const f = form();
    if (f && !f.dataset.sending) f.requestSubmit();
  }

  function openSkip() {
    const d = skipDialog();
    if (!d) return;
    d.showModal();
    d.querySelector("textarea").focus();
  }

  function toggleOverlay(show) {
    const o = overlay();
    if (!o) return;
    o.hidden = show === undefined ? !o.hidden : !show;
    if (!o.hidden) o.querySelector("button")?.focus();
  }

  document.addEventListener("keydown", function (ev) {
    const typing = isTyping(ev.target);
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") {
      if (skipDialog()?.open) { document.getElementById("skip-form").requestSubmit(); }
      else submitForm();
      ev.preventDefault();
      return;
    }
    if (ev.key === "Escape") {
      if (overlay() && !overlay().hidden) { toggleOverlay(false); ev.preventDefault(); return; }
      if (typing && !skipDialog()?.open) { ev.target.blur(); ev.preventDefault(); }
      return;
    }
    if (skipDialog()?.open) {
      if (ev.key === "Enter" && !ev.shiftKey && typing) {
        ev.preventDefault();
        document.getElementById("skip-form").requestSubmit();
      }
      return;
    }
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "?") { toggleOverlay(); ev.preventDefault(); return; }
    if (overlay() && !overlay().hidden) return;
    const f = form();
    if (!f) return;
    const kind = f.dataset.kind;
    let handled = false;
    if (kind === "pairwise") {
      if (/^[1-7]$/.test(ev.key)) handled = choose("preference", String(Number(ev.key) - 4));
      else if (PAIR_KEYS[ev.key]) handled = choose("preference", PAIR_KEYS[ev.key]);
    } else if (kind === "binary") {
      if (ev.key === "u") handled = choose("thumbs", "up");
      else if (ev.key === "d") handled = choose("thumbs", "down");
      else if (/^[1-9]$/.test(ev.key)) handled = toggleNth("failed_principles", Number(ev.key));
    }
    if (!handled && (ev.key === "r" || ev.key === "e")) {
      const field = f.querySelector('[data-focus-key="' + ev.key + '"]');
      if (field) { field.focus(); handled = true; }
    }
    if (!handled && ev.key === "s") { openSkip(); handled = true; }
    if (handled) ev.preventDefault();
  });

  document.addEventListener("click", function (ev) {
    const target = ev.target.closest("[data-action], [data-reason]");
    if (!target) return;
    const action = target.dataset.action;
    if (action === "shortcuts") toggleOverlay(true);
    else if (action === "close-overlay") toggleOverlay(false);
    else if (action === "skip") openSkip();
    else if (action === "cancel-skip") skipDialog()?.close();
    else if (target.dataset.reason) {
      const area = skipDialog().querySelector("textarea");
      area.value = target.dataset.reason;
      area.focus();
    }
  });

  document.addEventListener("htmx:configRequest", function (ev) {
    if (ev.detail.elt && ev.detail.elt.id === "item-form") {
      ev.detail.parameters.time_spent_ms = String(elapsed());
      ev.detail.elt.dataset.sending = "1";
    }
  });

  document.addEventListener("htmx:afterRequest", function (ev) {
    if (ev.detail.elt && ev.detail.elt.id === "item-form") delete ev.detail.elt.dataset.sending;
    if (ev.detail.elt && ev.detail.elt.id === "draft-saver") {
      const state = document.getElementById("draft-state");
      // A refused draft (too large, lease expired) says why; the server's reply is plain text.
      const why = (ev.detail.xhr && ev.detail.xhr.responseText) || "no connection";
      if (state) state.textContent = ev.detail.successful ? "Draft saved" : ("Draft not saved: " + why).slice(0, 200);
    }
  });

  function settle() {
    const d = skipDialog();
    if (d && d.open) d.close();
    const focus = document.querySelector("#work [data-autofocus]");
    if (focus) focus.focus();
    else if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
    const current = form() ? form().dataset.assignment : null;
    if (current !== clockFor) { resetClock(); clockFor = current; }
  }

  document.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.detail.target && ev.detail.target.id === "work") {
      settle();
      window.scrollTo({ top: 0 });
    }
  });

  document.addEventListener("DOMContentLoaded", settle);
})();
