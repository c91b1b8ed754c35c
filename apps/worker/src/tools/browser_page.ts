// The standalone page written beside an export (index.html): loads model.json with
// tf.loadLayersModel and classifies an image the user picks, preparing it as the predict
// command does (alpha over white, area averaging when shrinking, bilinear when enlarging, rounded
// to 8 bits, normalised with the mean and std stored in the model's metadata).

/** TF.js bundle the page loads: the version this repository builds against. */
export const TFJS_BROWSER_URL = 'https://cdn.jsdelivr.net/npm/@tensorflow/tfjs@4.22.0/dist/tf.min.js';

/**
 * The HTML of the page; it reads everything model-specific from model.json's metadata. The
 * `<script id="resize">` block holds only the image resizing (`resize(rgba, w, h, n)`), so a test
 * can run it against image_resize.ts.
 */
export function browserPageHtml(): string {
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>GoogLeNet CIFAR-10 classifier</title>
<!-- Browsers do not fetch model.json from file:// URLs: serve this folder over HTTP, e.g.
     "npx http-server ." or "python3 -m http.server", and open http://localhost:<port>/index.html -->
<script src="${TFJS_BROWSER_URL}"></script>
<body style="font-family: sans-serif">
<h1>GoogLeNet on CIFAR-10</h1>
<p><input type="file" id="file" accept="image/png,image/jpeg"></p>
<p><canvas id="small" width="32" height="32" style="width: 128px; image-rendering: pixelated"></canvas></p>
<pre id="out">loading model.json ...</pre>
<script id="resize">
// Weights of the source pixels read by each of n outputs (the export's image_resize.ts).
function taps(src, n) {
  const s = src / n, all = [];
  for (let i = 0; i < n; i++) {
    if (src === n) { all.push([[i, 1]]); continue; }
    if (src > n) { // area averaging
      const lo = i * s, hi = (i + 1) * s, t = [];
      for (let j = Math.floor(lo); j < Math.min(src, Math.ceil(hi)); j++) t.push([j, (Math.min(hi, j + 1) - Math.max(lo, j)) / s]);
      all.push(t);
    } else { // bilinear, half-pixel centres
      const x = Math.min(Math.max((i + 0.5) * s - 0.5, 0), src - 1), j = Math.floor(x), f = x - j;
      all.push(f === 0 ? [[j, 1]] : [[j, 1 - f], [j + 1, f]]);
    }
  }
  return all;
}
// RGBA [h, w, 4] (already over white) to RGB [n, n, 3] rounded to 0..255.
function resize(rgba, w, h, n) {
  const xt = taps(w, n), yt = taps(h, n), rows = new Float64Array(h * n * 3), out = new Float32Array(n * n * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < n; x++) for (const [j, wt] of xt[x])
    for (let c = 0; c < 3; c++) rows[(y * n + x) * 3 + c] += rgba[(y * w + j) * 4 + c] * wt;
  for (let y = 0; y < n; y++) for (let k = 0; k < n * 3; k++) {
    let sum = 0;
    for (const [j, wt] of yt[y]) sum += rows[j * n * 3 + k] * wt;
    out[y * n * 3 + k] = Math.min(255, Math.max(0, Math.round(sum)));
  }
  return out;
}
</script>
<script>
(async () => {
  const out = document.getElementById('out');
  const model = await tf.loadLayersModel('model.json');
  const meta = model.getUserDefinedMetadata();
  const size = meta.input.shape[0];
  out.textContent = 'Model loaded (' + tf.getBackend() + '). Choose a PNG or JPEG.';
  document.getElementById('file').onchange = async (event) => {
    const bitmap = await createImageBitmap(event.target.files[0]);
    const canvas = document.createElement('canvas');
    canvas.width = bitmap.width; canvas.height = bitmap.height;
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, canvas.width, canvas.height); // alpha over white
    ctx.drawImage(bitmap, 0, 0);
    const rgb = resize(ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height, size);
    const preview = new ImageData(size, size);
    for (let p = 0; p < size * size; p++) { preview.data.set(rgb.subarray(3 * p, 3 * p + 3), 4 * p); preview.data[4 * p + 3] = 255; }
    document.getElementById('small').getContext('2d').putImageData(preview, 0, 0);
    // Functional ops, not chained ones (x.div(...)): those exist only where a bundle registers them.
    const x = tf.tidy(() => tf.div(tf.sub(tf.div(tf.tensor(rgb, [1, size, size, 3]), meta.input.pixelScale), meta.input.mean), meta.input.std));
    const probs = await model.predict(x).data();
    x.dispose();
    const top = [...probs].map((p, k) => [p, k]).sort((a, b) => b[0] - a[0]).slice(0, 3);
    out.textContent = top.map(([p, k]) => meta.classes[k].padEnd(12) + (100 * p).toFixed(1) + '%').join('\\n');
  };
})().catch((err) => { document.getElementById('out').textContent = String(err); });
</script>
</body>
</html>
`;
}
