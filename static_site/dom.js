// What the page's modules share about the document.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);
