// A drawing on the pad -> the 28 x 28 MNIST-style digit the models read: vision/mnist_style.py's
// to_mnist, step for step, for what the pad draws (white pen strokes on black, SEND_HEIGHT px high).
// Each step names the Python function it follows; the resampling copies what Pillow and torch do,
// so that the two agree to a grey level (tests/test_site_preprocessing.py holds them to it).
//
// Left out, because a pad's drawing never needs them: to_mnist's decoding, its 3 x 3 median (the pad
// has no salt-and-pepper noise), its judging of which shade is ink (the pad's ink is always light)
// and its second look at twice the size for a faint hairline (a drawing past the pad's DOT check has
// hundreds of ink pixels, never under MIN_INK_PIXELS).
"use strict";

const MnistStyle = (() => {
  // The Python modules' settings, by their names there (the test reads both sides).
  const SETTINGS = {
    WORK_SIDE: 128, BOX_SIDE: 20, FRAME_SIDE: 28, // decoding.py, input_cleaning.py
    MIN_CONTRAST: 16, GRAIN_RATIO: 6, NOISE_SIGMAS: 4.0, INK_PERCENTILE: 99.9, // page.py
    STROKE_WINDOWS: 3, SPECK_SHARE: 0.05, MIN_INK_PIXELS: 12,
    MNIST_SLANT: [-0.49, 0.22], MNIST_WIDTH: [1.95, 3.85], // mnist_style.py
  };
  const S = SETTINGS;
  const BLUR_RADIUS = 0.7; // page.ink_mask's GaussianBlur
  const COMPONENT_CELL = 4; // page.components' default block

  // An image: {w, h, v} with v a Float32Array of w * h values, row by row.
  const image = (w, h, v = new Float32Array(w * h)) => ({ w, h, v });

  // Python's round(): halves to the even neighbour (Math.round takes them up).
  function pyRound(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  // numpy's percentile (linear between the two nearest ranks) of an array of numbers: the two ranks
  // found by selection (Hoare's), not a sort, on a copy.
  function percentile(values, q) {
    const a = Float64Array.from(values), at = (q / 100) * (a.length - 1), lo = Math.floor(at);
    const low = select(a, lo), high = lo + 1 < a.length ? least(a, lo + 1) : low;
    return low + (high - low) * (at - lo);
  }

  function select(a, k) { // the k-th smallest of a (0-based); leaves a[k] there, smaller before, larger after
    let left = 0, right = a.length - 1;
    while (left < right) {
      const pivot = a[(left + right) >> 1];
      let i = left, j = right;
      while (i <= j) {
        while (a[i] < pivot) i++;
        while (a[j] > pivot) j--;
        if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
      }
      if (k <= j) right = j;
      else if (k >= i) left = i;
      else break;
    }
    return a[k];
  }

  function least(a, from) { // the smallest of a[from:]
    let m = Infinity;
    for (let i = from; i < a.length; i++) if (a[i] < m) m = a[i];
    return m;
  }

  const median = (values) => percentile(values, 50);

  // page._rim: the pixels along the four edges, `depth` deep (corners twice, as numpy concatenates them).
  function rim(img, depth = Math.max(1, Math.floor(Math.min(img.w, img.h) / 32))) {
    const { w, h, v } = img, out = [];
    for (let y = 0; y < depth; y++) for (let x = 0; x < w; x++) out.push(v[y * w + x]);
    for (let y = h - depth; y < h; y++) for (let x = 0; x < w; x++) out.push(v[y * w + x]);
    for (let y = 0; y < h; y++) for (let x = 0; x < depth; x++) out.push(v[y * w + x]);
    for (let y = 0; y < h; y++) for (let x = w - depth; x < w; x++) out.push(v[y * w + x]);
    return out;
  }

  // ---- filters ----
  // Pillow's GaussianBlur on an 8-bit image: three box blurs of a fractional radius each way, in
  // 24-bit fixed point, edges repeated, each pass rounded to a byte.
  function gaussianBlur8(img, radius) {
    const f = Math.fround;
    const sigma2 = f(f(f(radius) * f(radius)) / 3);
    const L = f(Math.sqrt(12 * sigma2 + 1));
    const l = f(Math.floor((L - 1) / 2));
    let a = f(f(2 * l + 1) * f(f(l * f(l + 1)) - f(3 * sigma2)));
    a = f(a / f(6 * f(sigma2 - f(f(l + 1) * f(l + 1)))));
    const boxRadius = f(l + a), whole = Math.trunc(boxRadius);
    const ww = Math.trunc(f(16777216 / f(f(boxRadius * 2) + 1)));
    const fw = Math.floor((16777216 - (whole * 2 + 1) * ww) / 2);
    let out = Uint8Array.from(img.v);
    const pass = (data, w, h) => { // one box blur along rows of a (h, w) byte image
      const next = new Uint8Array(w * h), last = w - 1;
      for (let y = 0; y < h; y++) {
        const row = y * w;
        for (let x = 0; x < w; x++) {
          let acc = 0;
          for (let k = x - whole; k <= x + whole; k++) acc += data[row + (k < 0 ? 0 : k > last ? last : k)];
          const left = x - whole - 1, right = x + whole + 1;
          const far = data[row + (left < 0 ? 0 : left)] + data[row + (right > last ? last : right)];
          next[row + x] = Math.floor((acc * ww + far * fw + 8388608) / 16777216);
        }
      }
      return next;
    };
    for (let i = 0; i < 3; i++) out = pass(out, img.w, img.h);
    out = transpose8(out, img.w, img.h);
    for (let i = 0; i < 3; i++) out = pass(out, img.h, img.w);
    return image(img.w, img.h, Float32Array.from(transpose8(out, img.h, img.w)));
  }

  function transpose8(data, w, h) {
    const out = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[x * h + y] = data[y * w + x];
    return out;
  }

  // page.sweep: a square min (or, with `max`, max) filter of odd side `window`, edges repeated, one
  // axis at a time; each line by van Herk's blocks (the min of a window is the min of a block's
  // suffix and the next block's prefix): three passes a line, whatever the window.
  function sweep(img, window, max = false) {
    const half = (window - 1) / 2, { w, h } = img;
    let v = img.v;
    for (const [len, lines, step, stride] of [[h, w, w, 1], [w, h, 1, w]]) {
      const out = new Float32Array(w * h), n = len + 2 * half;
      const line = new Float32Array(n), prefix = new Float32Array(n), suffix = new Float32Array(n);
      for (let k = 0; k < lines; k++) {
        const base = k * stride;
        for (let i = 0; i < n; i++) line[i] = v[base + Math.min(Math.max(i - half, 0), len - 1) * step];
        if (max) for (let i = 0; i < n; i++) line[i] = -line[i]; // a max is a min of the negated values
        for (let i = 0; i < n; i++) prefix[i] = i % window && prefix[i - 1] < line[i] ? prefix[i - 1] : line[i];
        for (let i = n - 1; i >= 0; i--) suffix[i] = (i + 1) % window && i < n - 1 && suffix[i + 1] < line[i] ? suffix[i + 1] : line[i];
        for (let i = 0; i < len; i++) {
          const least = suffix[i] < prefix[i + window - 1] ? suffix[i] : prefix[i + window - 1];
          out[base + i * step] = max ? -least : least;
        }
      }
      v = out;
    }
    return image(w, h, v);
  }

  // Pillow's resize of a float image (and torch's antialiased bilinear interpolate, the same scheme):
  // each output pixel a normalised weighted sum of the input pixels under the filter, rows then columns.
  const FILTERS = {
    box: [(x) => (x > -0.5 && x <= 0.5 ? 1 : 0), 0.5],
    bilinear: [(x) => Math.max(0, 1 - Math.abs(x)), 1],
  };

  function weights(inSize, outSize, [filter, reach]) {
    const scale = inSize / outSize, stretch = Math.max(scale, 1), support = reach * stretch;
    return Array.from({ length: outSize }, (_, i) => {
      const centre = (i + 0.5) * scale;
      const first = Math.max(Math.trunc(centre - support + 0.5), 0);
      const last = Math.min(Math.trunc(centre + support + 0.5), inSize);
      const k = Array.from({ length: last - first }, (_, j) => filter((j + first - centre + 0.5) / stretch));
      const total = k.reduce((a, b) => a + b, 0);
      return [first, total ? k.map((x) => x / total) : k];
    });
  }

  function resized(img, w, h, filter) {
    const across = weights(img.w, w, FILTERS[filter]), down = weights(img.h, h, FILTERS[filter]);
    const rows = new Float32Array(w * img.h);
    for (let y = 0; y < img.h; y++) {
      for (let x = 0; x < w; x++) {
        const [first, k] = across[x];
        let sum = 0;
        for (let j = 0; j < k.length; j++) sum += img.v[y * img.w + first + j] * k[j];
        rows[y * w + x] = sum;
      }
    }
    const out = image(w, h);
    for (let y = 0; y < h; y++) {
      const [first, k] = down[y];
      for (let x = 0; x < w; x++) {
        let sum = 0;
        for (let j = 0; j < k.length; j++) sum += rows[(first + j) * w + x] * k[j];
        out.v[y * w + x] = sum;
      }
    }
    return out;
  }

  // ---- finding the ink (page.py) ----
  // input_cleaning.otsu: the grey level (0-255) that best splits the values into two groups.
  function otsu(values) {
    const counts = new Float64Array(256);
    for (const x of values) if (x >= 0 && x <= 256) counts[Math.min(Math.trunc(x), 255)] += 1;
    let weight = 0, mass = 0, total = 0, all = 0, best = -1, level = 0;
    for (let i = 0; i < 256; i++) { total += counts[i]; all += counts[i] * i; }
    for (let i = 0; i < 256; i++) {
      weight += counts[i];
      mass += counts[i] * i;
      const low = mass / Math.max(weight, 1), high = (all - mass) / Math.max(total - weight, 1);
      const between = weight * (total - weight) * (low - high) ** 2;
      if (between > best) { best = between; level = i; }
    }
    return level;
  }

  // page.components: labels (Int32Array, 0 background) of the mask's 8-connected parts, found on a
  // grid of cell x cell blocks, numbered in the order of their first block, row by row.
  function components(mask, w, h, cell = COMPONENT_CELL) {
    const gw = Math.ceil(w / cell), gh = Math.ceil(h / cell), grid = new Int32Array(gw * gh);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (mask[y * w + x]) grid[Math.floor(y / cell) * gw + Math.floor(x / cell)] = -1;
    let parts = 0;
    for (let start = 0; start < grid.length; start++) {
      if (grid[start] !== -1) continue;
      grid[start] = ++parts;
      const stack = [start];
      while (stack.length) {
        const at = stack.pop(), gy = Math.floor(at / gw), gx = at % gw;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const y = gy + dy, x = gx + dx;
            if (y >= 0 && y < gh && x >= 0 && x < gw && grid[y * gw + x] === -1) {
              grid[y * gw + x] = parts;
              stack.push(y * gw + x);
            }
          }
        }
      }
    }
    const labels = new Int32Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (mask[y * w + x]) labels[y * w + x] = grid[Math.floor(y / cell) * gw + Math.floor(x / cell)];
    return { labels, parts };
  }

  // page._without_border_blobs: which pixels of the mask are the digit's (parts cut by the frame go
  // when the rest holds a fifth of the ink; specks under SPECK_SHARE of the largest part go), and
  // how many parts there were.
  function withoutBorderBlobs(mask, weight, w, h, speck) {
    const { labels, parts } = components(mask, w, h);
    const keep = new Uint8Array(w * h).fill(1);
    if (parts <= 1) return { keep, parts };
    const mass = new Float64Array(parts + 1);
    for (let i = 0; i < labels.length; i++) mass[labels[i]] += weight[i];
    mass[0] = 0;
    const edge = new Set(rim(image(w, h, labels), 1).filter((p) => p > 0));
    const whole = mass.reduce((a, b) => a + b, 0);
    const inside = mass.reduce((a, b, p) => a + (edge.has(p) ? 0 : b), 0);
    if (inside >= 0.2 * whole) for (const p of edge) mass[p] = 0;
    const largest = Math.max(...mass);
    for (let i = 0; i < labels.length; i++) {
      const p = labels[i];
      keep[i] = mask[i] ? Number(p > 0 && mass[p] >= speck * largest) : 1;
    }
    return { keep, parts };
  }

  // page._above_paper: light ink on dark paper, cleaned -> {ink in [0, 1] (0 the paper), parts}.
  function abovePaper(clean, window, speck) {
    const { w, h } = clean;
    const paper = sweep(sweep(clean, window), window, true);
    const flat = clean.v.map((x, i) => x - paper.v[i]);
    let contrast = percentile(flat, S.INK_PERCENTILE);
    const split = otsu(flat);
    const edge = rim(image(w, h, flat)), middle = median(edge);
    const grain = 1.4826 * median(edge.map((x) => Math.abs(x - middle)));
    if (contrast < S.MIN_CONTRAST || contrast - median(flat) < S.GRAIN_RATIO * grain) return { ink: image(w, h), parts: 0 };
    const floor = Math.max(split / 2, contrast * 0.125, S.NOISE_SIGMAS * grain);
    const mask = flat.map((x) => (x > floor ? 1 : 0));
    const { keep, parts } = withoutBorderBlobs(mask, flat, w, h, speck);
    if (keep.some((k) => !k)) {
      const kept = Array.from(flat).filter((x, i) => mask[i] && keep[i]);
      if (kept.length) contrast = percentile(kept, 99);
    }
    const ink = image(w, h);
    for (let i = 0; i < flat.length; i++) ink.v[i] = mask[i] && keep[i] ? Math.min(Math.max(flat[i] / contrast, 0), 1) : 0;
    return { ink, parts };
  }

  // page.stroke_width: 2 * area / outline of the ink above one half.
  function strokeWidth(img) {
    const { w, h, v } = img;
    let area = 0, outline = 0;
    const on = (x, y) => v[y * w + x] > 0.5;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (!on(x, y)) continue;
        area += 1;
        const inner = (y === 0 || on(x, y - 1)) && (y === h - 1 || on(x, y + 1)) && (x === 0 || on(x - 1, y)) && (x === w - 1 || on(x + 1, y));
        if (!inner) outline += 1;
      }
    }
    return outline ? (2 * area) / outline : 0;
  }

  // page._inside: the ink less its parts that touch the edge, when enough is left to judge strokes by.
  function inside(ink) {
    const { labels } = components(ink.v.map((x) => (x > 0 ? 1 : 0)), ink.w, ink.h);
    const edge = new Set(rim(image(ink.w, ink.h, labels), 1));
    const out = image(ink.w, ink.h, ink.v.map((x, i) => (edge.has(labels[i]) ? 0 : x)));
    return out.v.filter((x) => x > 0.5).length >= S.MIN_INK_PIXELS ? out : ink;
  }

  // page.ink_mask, for light ink: a slight blur, the paper's shading taken away, faint parts and
  // blobs cut by the frame dropped; a second, narrower look where the ink came in several parts.
  function inkMask(grey, speck = S.SPECK_SHARE) {
    const clean = gaussianBlur8(grey, BLUR_RADIUS);
    const window = 2 * Math.floor(Math.min(grey.w, grey.h) / 6) + 1;
    let { ink, parts } = abovePaper(clean, window, speck);
    if (parts > 1 || rim(ink, 1).some((x) => x > 0)) {
      const width = strokeWidth(inside(ink));
      const narrow = 2 * Math.ceil((S.STROKE_WINDOWS * width) / 2) + 1;
      if (width && narrow < window) ink = abovePaper(clean, narrow, speck).ink;
    }
    return ink;
  }

  // mnist_style.ink_at: the grey with its longer side WORK_SIDE (Pillow's BOX shrinks), then its ink.
  function inkAt(grey) {
    const scale = S.WORK_SIDE / Math.max(grey.w, grey.h);
    if (scale > 1) throw new Error("the pad's drawing is at least WORK_SIDE px high"); // Python grows it (BICUBIC)
    const w = Math.max(1, pyRound(grey.w * scale)), h = Math.max(1, pyRound(grey.h * scale));
    const sized = w === grey.w && h === grey.h ? grey : resized(grey, w, h, "box");
    return inkMask(image(w, h, sized.v.map((x) => Math.min(Math.max(x, 0), 255))));
  }

  // ---- framing the digit (mnist_style.from_ink) ----
  function cropped(img) {
    let top = img.h, bottom = -1, left = img.w, right = -1;
    for (let y = 0; y < img.h; y++) {
      for (let x = 0; x < img.w; x++) {
        if (img.v[y * img.w + x]) { top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x); }
      }
    }
    const out = image(right - left + 1, bottom - top + 1);
    for (let y = 0; y < out.h; y++) for (let x = 0; x < out.w; x++) out.v[y * out.w + x] = img.v[(y + top) * img.w + x + left];
    return out;
  }

  function massCentre(img) { // [row, column] of the centre of mass, and the total
    let total = 0, rows = 0, cols = 0;
    for (let y = 0; y < img.h; y++) {
      for (let x = 0; x < img.w; x++) {
        const m = img.v[y * img.w + x];
        total += m; rows += m * y; cols += m * x;
      }
    }
    return [rows / total, cols / total, total];
  }

  // mnist_style._slant: x's change per unit of y (down) about the centre of mass (mu11 / mu02).
  function slant(img) {
    const [cy, cx] = massCentre(img);
    let mu11 = 0, mu02 = 0;
    for (let y = 0; y < img.h; y++) {
      for (let x = 0; x < img.w; x++) {
        const m = img.v[y * img.w + x];
        mu11 += m * (x - cx) * (y - cy);
        mu02 += m * (y - cy) * (y - cy);
      }
    }
    return mu02 > 0 ? mu11 / mu02 : 0;
  }

  // mnist_style._sheared: x moved by shear * (y - the centre of mass's y), on a wider canvas, as
  // Pillow's bilinear affine transform does it (0 outside the image).
  function sheared(img, shear) {
    const [cy] = massCentre(img), extra = Math.ceil(Math.abs(shear) * img.h) + 1, w = img.w + 2 * extra, h = img.h;
    const source = image(w, h);
    for (let y = 0; y < h; y++) for (let x = 0; x < img.w; x++) source.v[y * w + x + extra] = img.v[y * img.w + x];
    const out = image(w, h), at = (x, y) => source.v[y * w + Math.min(Math.max(x, 0), w - 1)];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let xin = (x + 0.5) - shear * (y + 0.5) + shear * cy, yin = y + 0.5;
        if (xin < 0 || xin >= w || yin < 0 || yin >= h) continue;
        xin -= 0.5; yin -= 0.5;
        const x0 = Math.floor(xin), y0 = Math.floor(yin), dx = xin - x0, dy = yin - y0;
        const yTop = Math.min(Math.max(y0, 0), h - 1);
        let value = at(x0, yTop) + (at(x0 + 1, yTop) - at(x0, yTop)) * dx;
        if (y0 + 1 >= 0 && y0 + 1 < h) value += (at(x0, y0 + 1) + (at(x0 + 1, y0 + 1) - at(x0, y0 + 1)) * dx - value) * dy;
        out.v[y * w + x] = Math.min(Math.max(value, 0), 1);
      }
    }
    return out;
  }

  function padded(img, by) {
    const out = image(img.w + 2 * by, img.h + 2 * by);
    for (let y = 0; y < img.h; y++) for (let x = 0; x < img.w; x++) out.v[(y + by) * out.w + x + by] = img.v[y * img.w + x];
    return out;
  }

  const partsOf = (img) => components(img.v.map((x) => (x > 0 ? 1 : 0)), img.w, img.h).parts;

  // mnist_style._as_mnist_writes: slant and stroke width brought within MNIST's writers' range.
  function asMnistWrites(ink) {
    const leaning = slant(ink);
    const upright = Math.min(Math.max(leaning, S.MNIST_SLANT[0]), S.MNIST_SLANT[1]);
    if (Math.abs(upright - leaning) > 0.02) ink = sheared(ink, upright - leaning);
    const crop = cropped(ink), fit = S.BOX_SIDE / Math.max(crop.w, crop.h);
    const width = strokeWidth(crop) * fit;
    const target = Math.min(Math.max(width, S.MNIST_WIDTH[0]), S.MNIST_WIDTH[1]);
    const radius = pyRound((target - width) / fit / 2);
    if (!radius) return ink;
    const grown = sweep(padded(ink, Math.max(radius, 0)), 2 * Math.abs(radius) + 1, radius > 0);
    const broken = radius < 0 && partsOf(grown) > partsOf(ink);
    return grown.v.some((x) => x) && !broken ? grown : ink;
  }

  // input_cleaning.framed: longer side BOX_SIDE (torch's antialiased bilinear), full strength, the
  // centre of mass on pixel (14, 14) of the 28 x 28 frame.
  function framed(crop) {
    const fit = S.BOX_SIDE / Math.max(crop.w, crop.h);
    const small = resized(crop, Math.max(1, pyRound(crop.w * fit)), Math.max(1, pyRound(crop.h * fit)), "bilinear");
    let peak = 0;
    for (let i = 0; i < small.v.length; i++) { small.v[i] = Math.min(Math.max(small.v[i], 0), 1); peak = Math.max(peak, small.v[i]); }
    if (peak > 0) for (let i = 0; i < small.v.length; i++) small.v[i] /= peak;
    const [cy, cx] = massCentre(small), side = S.FRAME_SIDE;
    const top = Math.min(Math.max(pyRound(side / 2 - cy), 0), side - small.h);
    const left = Math.min(Math.max(pyRound(side / 2 - cx), 0), side - small.w);
    const frame = new Float32Array(side * side);
    for (let y = 0; y < small.h; y++) for (let x = 0; x < small.w; x++) frame[(y + top) * side + x + left] = small.v[y * small.w + x];
    return frame;
  }

  // to_mnist for the pad: grey levels 0-255 ({w, h, v}) -> Float32Array(784) in [0, 1], row by row;
  // null for a drawing with no ink (Python's BlankImage).
  function toMnist(grey) {
    const ink = inkAt(grey);
    if (ink.v.filter((x) => x > 0).length < S.MIN_INK_PIXELS) return null;
    return framed(cropped(asMnistWrites(ink)));
  }

  // The canvas's pixels as grey levels, the luminance app.js's PNG (and Pillow's "L") takes.
  function greyOf(context, w, h) {
    const rgba = context.getImageData(0, 0, w, h).data, v = new Float32Array(w * h);
    for (let i = 0; i < v.length; i++) v[i] = Math.round((rgba[4 * i] * 299 + rgba[4 * i + 1] * 587 + rgba[4 * i + 2] * 114) / 1000);
    return image(w, h, v);
  }

  return { SETTINGS, toMnist, greyOf, image, pyRound };
})();
