// Where a photo comes from: the Photo… button's file picker, a file dropped on the
// canvas, or a picture pasted anywhere on the page. What is done with it is app.js's.

import { $ } from "./dom.js";

/** Calls `open(file)` with each file picked, dropped or pasted. */
export function listenForPhotos(open) {
  const input = $("photo-file");
  $("photo").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const [file] = input.files;
    input.value = ""; // the same file chosen again is a change too
    if (file) open(file);
  });
  // Dropped on the canvas, any file is meant for it: one that is no picture is told so.
  const frame = $("pad").parentElement;
  frame.addEventListener("dragover", (e) => e.preventDefault()); // else the browser opens it
  frame.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files?.[0];
    if (file) open(file);
  });
  // Pasted, only a picture is the page's: anything else is left to the browser.
  document.addEventListener("paste", (e) => {
    const file = pictureIn(e.clipboardData?.files);
    if (!file) return;
    e.preventDefault();
    open(file);
  });
}

/** The first picture among the files, if any. */
function pictureIn(files) {
  return [...(files ?? [])].find((file) => file.type.startsWith("image/"));
}
