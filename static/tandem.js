// Behaviour every page may use, bound here rather than in inline handlers (the
// Content-Security-Policy allows no inline script):
//   <form data-confirm="Delete this?">  asks before submitting;
//   <input data-mirror="[name=budget]"> copies its value to that field of its form as it changes.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    const form = ev.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("input", function (ev) {
    const source = ev.target;
    if (!(source instanceof HTMLInputElement) || !source.dataset.mirror || !source.form) return;
    const target = source.form.querySelector(source.dataset.mirror);
    if (target) target.value = source.value;
  });
})();
