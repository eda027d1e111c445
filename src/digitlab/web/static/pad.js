// The drawing pad's drawing, kept as strokes and painted at whatever resolution is asked for: the
// server's page (app.js) and the static page (`digitlab export-site`, site.js) both draw with it, so a
// drawing becomes the same pixels on either. Plain JavaScript, nothing fetched from elsewhere.
"use strict";

const DigitPad = (() => {
  // Sizes are shares of the pad's height, so a drawing is the same on any screen.
  const ASPECT = 2.5;        // the pad's width over its height (style.css's aspect-ratio): room for a number
  const PEN = { share: 0.12, min: 0.025, max: 0.075 }; // pen width: 12% of a digit's size (MNIST's strokes), within these
  const WIDE = 1.5;          // a drawing wider than this many times its height holds several digits: each is its height
  const DOT = 0.06;          // a drawing smaller than this both ways is a dot, not a digit
  const SEND_HEIGHT = 128;   // px: the drawing is read at the height the server cleans a digit at (images.WORK_SIDE)
  // Only the columns around the ink are read, MARGIN pad heights either side of it: the server scales a
  // picture by its longer side, and one digit sent on the whole wide pad reached it at 40% of its size,
  // thin and blurred (a plain 7 declined as not a digit: the gate's 0.46 for a digit, 0.96 when cropped).
  const MARGIN = 0.15;

  // `strokes`: each a list of [x, y] points, in shares of the pad's height.
  function span(strokes) { // [width, height] of the drawing, in pad heights
    const points = strokes.flat();
    if (!points.length) return [0, 0];
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    return [Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)];
  }

  function extent(strokes) {
    return Math.max(...span(strokes));
  }

  function digitSize(strokes) { // one digit: its larger side, as always; a number: its height, each digit's
    const [w, h] = span(strokes);
    return w > WIDE * h ? h : Math.max(w, h);
  }

  function penWidth(strokes) { // in pad heights
    return Math.min(PEN.max, Math.max(PEN.min, PEN.share * digitSize(strokes)));
  }

  // `height` px is the pad's height: the drawing keeps its shape on any canvas; `left` (pad heights) is
  // the drawing's column at the canvas's left edge.
  function paint(context, strokes, width, height, left = 0) {
    context.fillStyle = "#000";
    context.fillRect(0, 0, width, height);
    context.strokeStyle = "#fff";
    context.lineWidth = height * penWidth(strokes);
    context.lineCap = "round";
    context.lineJoin = "round";
    for (const stroke of strokes) {
      context.beginPath();
      context.moveTo((stroke[0][0] - left) * height, stroke[0][1] * height);
      for (const [x, y] of stroke.length > 1 ? stroke.slice(1) : stroke) context.lineTo((x - left) * height, y * height);
      context.stroke();
    }
  }

  function inkColumns(strokes) { // [from, to] in pad heights: the ink's columns, MARGIN either side, within the pad
    const xs = strokes.flat().map((p) => p[0]), reach = penWidth(strokes) / 2 + MARGIN;
    return [Math.max(0, Math.min(...xs) - reach), Math.min(ASPECT, Math.max(...xs) + reach)];
  }

  // The drawing as it is read: SEND_HEIGHT px high, cut to its ink's columns, on `canvas` (resized to
  // fit). Returns [the 2D context, its width in px, the cut's left edge in pad heights].
  function cut(canvas, strokes) {
    const [from, to] = inkColumns(strokes);
    const width = Math.max(1, Math.round((to - from) * SEND_HEIGHT));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== SEND_HEIGHT) canvas.height = SEND_HEIGHT;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    paint(context, strokes, width, SEND_HEIGHT, from);
    return [context, width, from];
  }

  // The pad's canvas holds as many pixels as the screen shows (3 per CSS pixel on many phones): sharp strokes.
  function fit(canvas) {
    const box = canvas.getBoundingClientRect(), scale = window.devicePixelRatio || 1;
    const width = Math.round(box.width * scale), height = Math.round(box.height * scale);
    if (width > 0 && height > 0 && (canvas.width !== width || canvas.height !== height)) {
      canvas.width = width;
      canvas.height = height;
    }
  }

  // Where a pointer event (and the moves the browser coalesced into it) touched the pad, in pad heights.
  function points(canvas, event) {
    const box = canvas.getBoundingClientRect();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    return (events.length ? events : [event]).map((e) => [(e.clientX - box.left) / box.height, (e.clientY - box.top) / box.height]);
  }

  // The page never gets shorter under the pen. Scrolled down, a page that shortens while a stroke is
  // drawn (an answer arriving mid-stroke: a number's card has no bars) scrolls back by itself, the pad
  // slides down under a pointer that has not moved, and the rest of the stroke lands higher on the pad.
  // `hold` at each pen-down keeps <main> at least as tall as it is then; `release` (Clear) lets it go.
  function hold() {
    const main = document.querySelector("main");
    main.style.minHeight = `${main.offsetHeight}px`;
  }

  function release() {
    document.querySelector("main").style.minHeight = "";
  }

  return { ASPECT, DOT, SEND_HEIGHT, extent, paint, cut, fit, points, hold, release };
})();
