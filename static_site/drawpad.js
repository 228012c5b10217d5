// The drawing canvas: pointer input (mouse, touch, pen), smooth strokes and
// an undo history. Strokes are kept in a fixed 280x280 space whatever the CSS
// size, and the image sent to the API is 280x280, so it does not depend on the
// screen; only the pixels shown follow the screen's.

const SIZE = 280;
const INK = "#111827";
const PAPER = "#ffffff";
const INK_LEVEL = 136; // a red channel under this (halfway from paper to ink) counts as ink
const MAX_BACKING = SIZE * 4; // a zoomed-in desktop would ask for many megapixels

/**
 * A picture file (upright, as its EXIF says) as the square at its middle, as a phone's
 * camera frames what it is pointed at, at most the backing store's size: a 12 MP photo
 * kept whole in the undo history would hold 48 MB. Rejects what the browser cannot decode.
 */
export async function squarePhoto(file) {
  const whole = await createImageBitmap(file, { imageOrientation: "from-image" });
  const side = Math.min(whole.width, whole.height);
  const out = Math.min(side, MAX_BACKING);
  try {
    return await createImageBitmap(whole, (whole.width - side) / 2, (whole.height - side) / 2,
      side, side, { resizeWidth: out, resizeHeight: out, resizeQuality: "high" });
  } finally {
    whole.close();
  }
}

/** A canvas you can draw on; `onchange` fires when the drawing changes. */
export class DrawPad {
  constructor(canvas, { brushSize = 20, onchange = () => {}, onstrokestart = () => {} } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.brushSize = brushSize;
    this.onchange = onchange;
    this.onstrokestart = onstrokestart;
    this.items = []; // the history, oldest first: strokes, sample glyphs and clears
    this.current = null; // the stroke under the pointer
    this.pointerId = null;
    this.scale = 0; // backing-store pixels per unit of the 280x280 space
    this.resizeBackingStore();
    this.listen();
  }

  /** What is on the canvas: the items since the last clear, or from the last glyph or photo on. */
  get visible() {
    // A plain loop: findLastIndex is missing from iOS Safari before 15.4.
    let last = this.items.length - 1;
    while (last >= 0 && this.items[last].kind === "stroke") last--;
    if (last < 0) return this.items;
    return this.items.slice(this.items[last].kind === "clear" ? last + 1 : last);
  }

  get isEmpty() {
    return this.visible.length === 0;
  }

  /**
   * What is on the canvas, for `shows` to compare later: its items, which never change once
   * drawn, and which an Undo brings back as they were. Null while a stroke is being drawn:
   * it is still changing.
   */
  get drawing() {
    return this.current ? null : [...this.visible];
  }

  /** Whether the canvas shows that `drawing` (null: none) again, item for item. */
  shows(drawing) {
    const now = this.visible;
    return drawing?.length === now.length && drawing.every((item, i) => item === now[i]);
  }

  /** Whether the canvas shows a photo (strokes may be on it): its paper is no drawing's. */
  get hasPhoto() {
    return this.visible[0]?.kind === "photo";
  }

  get canUndo() {
    return this.items.length > 0;
  }

  /** The widest brush among the strokes on the canvas (0 for a sample glyph alone). */
  get widestStroke() {
    return Math.max(0, ...this.visible.map((item) => item.size ?? 0));
  }

  /**
   * Sharp at any size: the backing store has one pixel per device pixel shown (its CSS
   * width times devicePixelRatio), never fewer than 280 nor more than 1120. Resizing
   * it wipes the pixels; the strokes are kept as points and drawn again.
   */
  resizeBackingStore() {
    const shown = Math.ceil(this.canvas.clientWidth * (window.devicePixelRatio || 1));
    const side = Math.min(Math.max(shown, SIZE), MAX_BACKING);
    if (side === this.canvas.width && side === this.canvas.height && this.scale) return;
    this.canvas.width = side;
    this.canvas.height = side;
    this.scale = side / SIZE;
    this.redraw();
  }

  listen() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    c.addEventListener("pointerup", (e) => this.up(e));
    c.addEventListener("pointercancel", (e) => this.up(e));
    c.addEventListener("lostpointercapture", (e) => this.up(e));
    c.addEventListener("contextmenu", (e) => e.preventDefault()); // long-press on phones
    new ResizeObserver(() => this.resizeBackingStore()).observe(c);
    this.watchPixelRatio();
  }

  /**
   * Zooming, or moving the window to another screen, changes devicePixelRatio, not
   * always with a resize. A media query for the current ratio stops matching then;
   * it is made anew for the new ratio each time.
   */
  watchPixelRatio() {
    const query = window.matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`);
    query.addEventListener("change", () => {
      this.resizeBackingStore();
      this.watchPixelRatio();
    }, { once: true });
  }

  /**
   * Pointer position in the canvas's own 280x280 space, whatever its CSS size. The
   * drawing fills the content box: the CSS border (clientLeft/Top) is not part of it.
   */
  toCanvas(e) {
    const r = this.canvas.getBoundingClientRect();
    const { clientLeft, clientTop, clientWidth, clientHeight } = this.canvas;
    return {
      x: ((e.clientX - r.left - clientLeft) / clientWidth) * SIZE,
      y: ((e.clientY - r.top - clientTop) / clientHeight) * SIZE,
    };
  }

  /**
   * preventDefault keeps a touch from scrolling or selecting, and also the focus from
   * moving: the canvas takes it itself, so Enter recognises this drawing rather than
   * pressing the button clicked last (Undo, Sample) again; with no focus ring, which
   * marks where the keyboard is, not the pen.
   */
  down(e) {
    if (this.pointerId !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    this.canvas.focus({ preventScroll: true, focusVisible: false });
    this.canvas.setPointerCapture?.(e.pointerId);
    this.pointerId = e.pointerId;
    this.current = { kind: "stroke", size: this.brushSize, points: [this.toCanvas(e)] };
    this.items.push(this.current);
    this.onstrokestart();
    this.paintStroke(this.current);
  }

  move(e) {
    if (e.pointerId !== this.pointerId || !this.current) return;
    e.preventDefault();
    const pts = this.current.points;
    const from = Math.max(pts.length - 1, 1);
    const events = e.getCoalescedEvents?.() ?? [];
    for (const ev of events.length ? events : [e]) pts.push(this.toCanvas(ev));
    this.paintStroke(this.current, from);
  }

  up(e) {
    if (e.pointerId !== this.pointerId) return;
    this.pointerId = null;
    this.current = null;
    this.redraw(); // replaces the provisional tail drawn while moving
    this.onchange("stroke");
  }

  undo() {
    if (this.current || this.items.length === 0) return;
    this.items.pop();
    this.redraw();
    this.onchange("undo");
  }

  /** Clearing is a step in the history too, so Undo brings the drawing back. */
  clear() {
    if (this.current || this.isEmpty) return;
    this.items.push({ kind: "clear" });
    this.redraw();
    this.onchange("clear");
  }

  /**
   * A typed digit in place of the drawing, as one undoable item (Undo brings the drawing
   * back): lets keyboard-only users try the model.
   */
  addGlyph(text) {
    this.items.push({ kind: "glyph", text });
    this.redraw();
    this.onchange("glyph");
  }

  /** A photo (squarePhoto's) in place of the drawing, as one undoable item. */
  addPhoto(bitmap) {
    this.items.push({ kind: "photo", bitmap });
    this.redraw();
    this.onchange("photo");
  }

  redraw() {
    const { ctx } = this;
    ctx.setTransform(this.scale, 0, 0, this.scale, 0, 0);
    ctx.fillStyle = PAPER;
    ctx.fillRect(0, 0, SIZE, SIZE);
    for (const item of this.visible) {
      if (item.kind === "glyph") this.paintGlyph(item);
      else if (item.kind === "photo") this.paintPhoto(item);
      else this.paintStroke(item);
    }
  }

  paintPhoto({ bitmap }) {
    this.ctx.imageSmoothingQuality = "high";
    this.ctx.drawImage(bitmap, 0, 0, SIZE, SIZE);
  }

  /**
   * Quadratic curves through the midpoints of successive points: smooth, no kinks.
   * `from` > 1 paints only the newest segments while the pointer moves.
   */
  paintStroke(stroke, from = 1) {
    const { ctx } = this;
    const pts = stroke.points;
    ctx.strokeStyle = INK;
    ctx.lineWidth = stroke.size;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    if (pts.length < 3) {
      const [a, b = a] = pts;
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x + 0.01, b.y);
      ctx.stroke();
      return;
    }
    const mid = (i) => ({ x: (pts[i].x + pts[i + 1].x) / 2, y: (pts[i].y + pts[i + 1].y) / 2 });
    const start = from <= 1 ? pts[0] : mid(from - 1);
    ctx.moveTo(start.x, start.y);
    for (let i = Math.max(from, 1); i < pts.length - 1; i++) {
      const m = mid(i);
      ctx.quadraticCurveTo(pts[i].x, pts[i].y, m.x, m.y);
    }
    const last = pts[pts.length - 1];
    ctx.lineTo(last.x, last.y);
    ctx.stroke();
  }

  paintGlyph(item) {
    const { ctx } = this;
    ctx.fillStyle = INK;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.font = `600 ${SIZE * 0.72}px "Segoe Print", "Bradley Hand", "Comic Sans MS", cursive, sans-serif`;
    ctx.fillText(item.text, SIZE / 2, SIZE / 2 + SIZE * 0.03);
  }

  /** The drawing at 280x280 (the backing store is usually larger). */
  snapshot() {
    if (this.canvas.width === SIZE) return this.canvas;
    const out = document.createElement("canvas");
    out.width = SIZE;
    out.height = SIZE;
    const octx = out.getContext("2d");
    octx.imageSmoothingQuality = "high";
    octx.drawImage(this.canvas, 0, 0, SIZE, SIZE);
    return out;
  }

  /** A PNG of the drawing at 280x280. */
  toDataURL() {
    return this.snapshot().toDataURL("image/png");
  }

  /** The ink at 280x280: the longer side of its bounding box, and its share of the canvas. */
  inkExtent() {
    const { data } = this.snapshot().getContext("2d").getImageData(0, 0, SIZE, SIZE);
    let count = 0;
    let [left, top, right, bottom] = [SIZE, SIZE, -1, -1];
    for (let i = 0; i < SIZE * SIZE; i++) {
      if (data[i * 4] >= INK_LEVEL) continue;
      const x = i % SIZE;
      const y = (i - x) / SIZE;
      count++;
      [left, top] = [Math.min(left, x), Math.min(top, y)];
      [right, bottom] = [Math.max(right, x), Math.max(bottom, y)];
    }
    const side = count ? Math.max(right - left, bottom - top) + 1 : 0;
    return { side, share: count / (SIZE * SIZE) };
  }
}
