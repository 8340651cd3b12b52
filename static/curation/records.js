// Record browser: "select all on this page" for the bulk-action form.
document.addEventListener("change", function (event) {
  if (event.target.id !== "select-page") return;
  document.querySelectorAll("input[name=items]").forEach(function (box) { box.checked = event.target.checked; });
});
