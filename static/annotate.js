// Tandem workspace: keyboard-first labelling, time on task, skip dialog, shortcuts overlay,
// guidelines panel (open state remembered), submit failures with retry, aspect-rating keys.
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

  // Aspect ratings: each (aspect, side) is a radio group; "g" focuses the first unrated one,
  // a digit on a focused group rates it and moves on to the next group.
  function aspectGroups() { const f = form(); return f ? Array.from(f.querySelectorAll("[data-aspect]")) : []; }
  function focusGroup(group) {
    if (!group) return false;
    const input = group.querySelector("input:checked") || group.querySelector("input");
    input.focus();
    return true;
  }
  function rateFocused(target, digit) {
    const group = target.closest("[data-aspect]");
    const input = group && group.querySelector('input[value="' + digit + '"]');
    if (!input) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    const groups = aspectGroups();
    const next = groups[groups.indexOf(group) + 1];
    if (next) focusGroup(next); else input.blur();
    return true;
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
    if (kind === "pairwise" && ev.target.closest && ev.target.closest("[data-aspect]") && /^[1-5]$/.test(ev.key)) {
      handled = rateFocused(ev.target, ev.key);
    } else if (kind === "pairwise" && ev.key === "g") {
      const groups = aspectGroups();
      handled = focusGroup(groups.find(function (g) { return !g.querySelector("input:checked"); }) || groups[0]);
    } else if (kind === "pairwise") {
      if (/^[1-7]$/.test(ev.key)) handled = choose("preference", String(Number(ev.key) - 4));
      else if (PAIR_KEYS[ev.key]) handled = choose("preference", PAIR_KEYS[ev.key]);
    } else if (kind === "likert" && /^[0-4]$/.test(ev.key)) {
      // A digit rates the focused aspect, else the first unrated one, and moves to the next.
      const groups = aspectGroups();
      const focused = ev.target.closest && ev.target.closest("[data-aspect]");
      const group = focused || groups.find(function (g) { return !g.querySelector("input:checked"); });
      handled = group ? rateFocused(group.querySelector("input"), ev.key) : false;
    } else if (kind === "likert" && ev.key === "g") {
      const groups = aspectGroups();
      handled = focusGroup(groups.find(function (g) { return !g.querySelector("input:checked"); }) || groups[0]);
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
    else if (action === "retry-submit") { hideFailure(); submitForm(); }
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

  // A submit that fails (server error, no connection) says so and offers a retry; htmx does not
  // swap a failed response, so the form keeps everything typed. The retry sends the same
  // submission id, so a label the server did store is not stored twice.
  function failureBox() { return document.getElementById("submit-failure"); }
  function hideFailure() { const box = failureBox(); if (box) box.hidden = true; }
  function showFailure(message) {
    const box = failureBox();
    if (!box) return;
    box.querySelector(".msg").textContent = message;
    box.hidden = false;
    box.querySelector("button").focus();
  }
  document.addEventListener("htmx:responseError", function (ev) {
    if (ev.detail.elt && ev.detail.elt.id === "item-form") {
      const status = ev.detail.xhr ? ev.detail.xhr.status : 0;
      showFailure(status === 403 ? "Your session has ended (403): log in again in another tab, then retry."
        : "The server could not store your label (error " + status + ").");
    }
  });
  document.addEventListener("htmx:sendError", function (ev) {
    if (ev.detail.elt && ev.detail.elt.id === "item-form") showFailure("No connection: your label was not sent.");
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

  // Scroll boxes (long responses, wide code) must be reachable by keyboard: focusable only
  // while they actually scroll, so short items add no tab stops.
  function reachableScrollBoxes() {
    document.querySelectorAll("#work .md, #work pre, #work .diff, #guidelines .guidelines-body").forEach(function (el) {
      const scrolls = el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1;
      if (scrolls && !el.hasAttribute("tabindex")) el.setAttribute("tabindex", "0");
      else if (!scrolls && el.getAttribute("tabindex") === "0") el.removeAttribute("tabindex");
    });
  }

  // After a refused submit, focus goes to the first field that needs fixing.
  function firstError() {
    const invalid = document.querySelector("#item-form .invalid, #item-form [aria-invalid=true]");
    if (invalid) {
      if (invalid.matches("textarea, input, select")) return invalid;
      const field = invalid.querySelector("input:checked, input:not([type=hidden]), textarea, select");
      if (field) return field;
    }
    return document.getElementById("form-error");
  }

  function settle() {
    const d = skipDialog();
    if (d && d.open) d.close();
    reachableScrollBoxes();
    const focus = firstError() || document.querySelector("#work [data-autofocus]");
    if (focus) focus.focus();
    else if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
    const current = form() ? form().dataset.assignment : null;
    if (current !== clockFor) { resetClock(); clockFor = current; }
  }

  document.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.detail.target && ev.detail.target.id === "work") {
      const error = firstError();
      settle();
      if (error) error.scrollIntoView({ block: "center" });
      else window.scrollTo({ top: 0 });
      const recent = document.getElementById("recent");
      if (recent && recent.open && window.htmx) window.htmx.trigger(recent, "toggle");  // keep the open list current
    }
  });

  // The guidelines panel stays open or closed as the annotator left it, per project.
  function rememberGuidelines() {
    const panel = document.getElementById("guidelines");
    if (!panel) return;
    const key = "tandem.guidelines." + (panel.closest("[data-project]")?.dataset.project || "");
    let stored = null;
    try { stored = window.localStorage.getItem(key); } catch (e) { /* storage off: default state */ }
    panel.open = stored === null ? true : stored === "open";
    panel.addEventListener("toggle", function () {
      try { window.localStorage.setItem(key, panel.open ? "open" : "closed"); } catch (e) { /* storage off */ }
      reachableScrollBoxes();
    });
  }

  document.addEventListener("DOMContentLoaded", function () { rememberGuidelines(); settle(); });
})();
