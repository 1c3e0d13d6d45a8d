// The help and instructions dialogs.

export function fillInstructions(instructions) {
  const box = document.getElementById("instructions-text");
  const text = typeof instructions === "string" ? instructions.trim() : "";
  box.textContent = text || "This feed has no instructions.";
  box.classList.toggle("empty", !text);
}

export function toggleDialog(dialog) {
  if (dialog.open) {
    dialog.close();
    return;
  }
  for (const other of document.querySelectorAll("dialog[open]")) other.close();
  dialog.showModal();
}

export function dialogOpen() {
  return Boolean(document.querySelector("dialog[open]"));
}
