// Reference outputs of the TF.js runtime for clipface's graph-model runner (tests/tfjs).
//
//   cd scripts/tfjs-reference && npm ci && node generate.js [--models DIR] [--out DIR]
//
// Runs every model of the list below with @tensorflow/tfjs 4.22 on its pure-JS CPU backend, on
// fixed synthetic inputs (no photos), and writes one small JSON file per model: the input recipe,
// the model files' sha256 and every output. DIR defaults to $CLIPFACE_HOME/models/human-models
// (where `clipface models pull human-models` puts them); --out to tests/tfjs/reference.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const tf = require('@tensorflow/tfjs');

// name -> the value range the model is fed in clipface (see src/tfjs/face_models.cpp), so the
// activations are of a realistic size.
const MODELS = {
  mobilefacenet: [-1, 1],
  mobileface: [0, 255],
  faceres: [0, 255],
  'faceres-deep': [0, 255],
  antispoof: [0, 1],
  liveness: [0, 1],
  age: [0, 255],
  gender: [-1, 1],
  emotion: [-1, 1],
  gear: [0, 1],
};
const BATCH = 2;

// The input recipe, repeated in tests/tfjs/tfjs_parity_test.cpp: a smooth pattern that differs
// per image, row, column and channel, computed in double precision and stored as float32.
function synthetic(shape, lo, hi) {
  const [n, h, w, c] = shape;
  const out = new Float32Array(n * h * w * c);
  let i = 0;
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) {
          const s = Math.sin(0.11 * y + 0.07 * x * (k + 1) + 0.9 * k + 2.1 * b) *
                    Math.cos(0.05 * x - 0.03 * y + b);
          out[i++] = lo + (hi - lo) * (0.5 + 0.5 * s);
        }
  return out;
}

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function handler(jsonPath) {
  const model = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const shard of group.paths) {
      buffers.push(fs.readFileSync(path.join(path.dirname(jsonPath), shard)));
    }
  }
  const joined = Buffer.concat(buffers);
  const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
  return {
    load: async () => ({
      modelTopology: model.modelTopology,
      weightSpecs: specs,
      weightData,
      format: model.format,
      generatedBy: model.generatedBy,
      convertedBy: model.convertedBy,
      signature: model.signature,
      userDefinedMetadata: model.userDefinedMetadata,
    }),
  };
}

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function main() {
  const home = process.env.CLIPFACE_HOME ||
      path.join(process.env.XDG_CACHE_HOME || path.join(require('os').homedir(), '.cache'),
                'clipface');
  const modelsDir = option('--models', path.join(home, 'models', 'human-models'));
  const outDir = option('--out', path.join(__dirname, '..', '..', 'tests', 'tfjs', 'reference'));
  await tf.setBackend('cpu');
  await tf.ready();
  fs.mkdirSync(outDir, {recursive: true});
  for (const [name, [lo, hi]] of Object.entries(MODELS)) {
    const jsonPath = path.join(modelsDir, name + '.json');
    const model = await tf.loadGraphModel(handler(jsonPath));
    const input = model.inputs[0];
    const shape = [BATCH, ...input.shape.slice(1)];
    const x = tf.tensor(synthetic(shape, lo, hi), shape, 'float32');
    const names = model.outputs.map((o) => o.name);
    let outputs = model.execute(x, names);
    if (!Array.isArray(outputs)) outputs = [outputs];
    const record = {
      model: name,
      tfjs: tf.version.tfjs,
      backend: tf.getBackend(),
      json_sha256: sha256(jsonPath),
      weights_sha256: sha256(jsonPath.replace(/\.json$/, '.bin')),
      input: {name: input.name, shape, lo, hi},
      outputs: outputs.map((t, i) => ({
        name: names[i],
        shape: t.shape,
        data: Array.from(t.dataSync(), (v) => Number(v.toPrecision(9))),
      })),
    };
    fs.writeFileSync(path.join(outDir, name + '.json'), JSON.stringify(record) + '\n');
    console.log(`${name}: ${names.map((n, i) => `${n} ${JSON.stringify(outputs[i].shape)}`).join(', ')}`);
    tf.dispose([x, ...outputs]);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
