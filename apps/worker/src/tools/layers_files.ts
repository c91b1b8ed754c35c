// The TF.js Layers model format on disk, written and read through custom IOHandlers
// (tfjs-node's file:// handler cannot install here). The layout is the one `tf.loadLayersModel`
// fetches over HTTP and the tfjs converter writes: `model.json` (topology, weights manifest,
// metadata) beside weight shards `group1-shardIofN.bin` of at most 4 MiB each (the converter's
// default, small enough for browser caches and CDNs).
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

/** The model file's name inside an export folder. */
export const MODEL_JSON = 'model.json';
/** Largest weight shard: the tfjs converter's default `weight_shard_size_bytes`. */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/** Weight shard names as tfjs writes them; ones the new model.json does not list are stale. */
const SHARD_NAME = /^group\d+-shard\d+of\d+\.bin$/;

/** A file an export wrote. */
export interface WrittenFile {
  readonly path: string;
  readonly bytes: number;
}

/**
 * An IOHandler whose `save` writes `model.json` and the weight shards into `dir` (created if
 * missing). Shards are written first and model.json last, each through a temporary name and a
 * rename, so a model.json on disk always has its shards beside it; shards of an earlier export
 * that the new model.json does not list are then deleted. `written` lists the files.
 */
export function folderSaveHandler(dir: string, written: WrittenFile[], shardBytes = DEFAULT_SHARD_BYTES): tf.io.IOHandler {
  if (!(Number.isInteger(shardBytes) && shardBytes > 0 && shardBytes % 4 === 0)) {
    throw new RangeError(`\`shardBytes\` passed to \`folderSaveHandler\` must be a positive multiple of 4, but got ${shardBytes}`);
  }
  return tf.io.withSaveHandler(async (artifacts) => {
    if (artifacts.modelTopology instanceof ArrayBuffer || artifacts.modelTopology === undefined) {
      throw new TypeError('folderSaveHandler saves Layers models (JSON topology) only');
    }
    await mkdir(dir, { recursive: true });
    const weights = new tf.io.CompositeArrayBuffer(artifacts.weightData ?? new ArrayBuffer(0));
    const shardCount = Math.max(1, Math.ceil(weights.byteLength / shardBytes));
    const paths: string[] = [];
    for (let i = 0; i < shardCount; i++) {
      const path = `group1-shard${i + 1}of${shardCount}.bin`;
      const shard = weights.slice(i * shardBytes, Math.min(weights.byteLength, (i + 1) * shardBytes));
      await writeAtomically(join(dir, path), new Uint8Array(shard));
      written.push({ path: join(dir, path), bytes: shard.byteLength });
      paths.push(path);
    }
    const modelJson: tf.io.ModelJSON = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      weightsManifest: [{ paths, weights: artifacts.weightSpecs ?? [] }],
      ...(artifacts.userDefinedMetadata !== undefined ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
    };
    const json = Buffer.from(JSON.stringify(modelJson), 'utf8');
    await writeAtomically(join(dir, MODEL_JSON), json);
    written.push({ path: join(dir, MODEL_JSON), bytes: json.byteLength });
    for (const name of await readdir(dir)) {
      if (SHARD_NAME.test(name) && !paths.includes(name)) await rm(join(dir, name), { force: true });
    }
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  });
}

async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, bytes);
  await rename(temp, path);
}

/**
 * An IOHandler whose `load` reads `dir/model.json` and the shards its manifest lists, for
 * `tf.loadLayersModel(folderLoadHandler(dir))`. Shard paths must be plain file names in `dir`.
 */
export function folderLoadHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const modelJson = JSON.parse(await readFile(join(dir, MODEL_JSON), 'utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          for (const path of group.paths) {
            if (basename(path) !== path)
              throw new RangeError(
                `${join(dir, MODEL_JSON)} lists weight file '${path}', but only plain file names in its folder are read`,
              );
            const bytes = await readFile(join(dir, path));
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          }
        }
        return [tf.io.getWeightSpecs(manifest), buffers];
      });
    },
  };
}
