// The layers of GoogLeNet as a flat list of shapes, read off GOOGLENET_TABLE without building
// anything: the basis of the analytic parameter and FLOP counts.
import { scaleChannels, type GoogLeNetConfig } from './config.js';
import { AUX_HEADS, AUX_POOLED_SIZE, GOOGLENET_TABLE, INPUT_CHANNELS, INPUT_SIZE, STEM } from './googlenet_table.js';

/** One weighted layer: a k x k conv on `size` x `size` maps, or an FC (`kind: 'dense'`, size 1). */
export interface PlannedLayer {
  readonly name: string;
  readonly kind: 'conv' | 'dense';
  readonly kernelSize: number;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Spatial side of the layer's output map (1 for an FC). */
  readonly size: number;
  /** Part of an auxiliary head (training only). */
  readonly aux: boolean;
}

/** Every conv and FC of the network for `config`, in forward order (aux heads where they attach). */
export function planGoogLeNet(config: Readonly<GoogLeNetConfig>): PlannedLayer[] {
  const c = (channels: number): number => scaleChannels(channels, config.width);
  const layers: PlannedLayer[] = [];
  const conv = (name: string, k: number, cin: number, cout: number, size: number, aux = false): void => {
    layers.push({ name, kind: 'conv', kernelSize: k, inChannels: cin, outChannels: cout, size, aux });
  };
  const dense = (name: string, cin: number, cout: number, aux: boolean): void => {
    layers.push({ name, kind: 'dense', kernelSize: 1, inChannels: cin, outChannels: cout, size: 1, aux });
  };
  let size = INPUT_SIZE;
  let channels = c(STEM.channels);
  conv(STEM.name, STEM.kernelSize, INPUT_CHANNELS, channels, size);
  for (const row of GOOGLENET_TABLE) {
    if (row.kind === 'maxpool') {
      size = Math.ceil(size / 2); // 3x3/2 'same'
      continue;
    }
    const name = `inception_${row.name}`;
    conv(`${name}/b1_1x1`, 1, channels, c(row.c1x1), size);
    conv(`${name}/b2_3x3_reduce`, 1, channels, c(row.c3x3Reduce), size);
    conv(`${name}/b2_3x3`, 3, c(row.c3x3Reduce), c(row.c3x3), size);
    conv(`${name}/b3_5x5_reduce`, 1, channels, c(row.c5x5Reduce), size);
    conv(`${name}/b3_5x5`, 5, c(row.c5x5Reduce), c(row.c5x5), size);
    conv(`${name}/b4_pool_proj`, 1, channels, c(row.poolProj), size);
    channels = c(row.c1x1) + c(row.c3x3) + c(row.c5x5) + c(row.poolProj);
    if (config.auxHeads && AUX_HEADS.after.includes(row.name)) {
      const auxName = `aux_${row.name}`;
      const auxChannels = c(AUX_HEADS.convChannels);
      conv(`${auxName}/conv1x1`, 1, channels, auxChannels, AUX_POOLED_SIZE, true);
      dense(`${auxName}/fc`, AUX_POOLED_SIZE * AUX_POOLED_SIZE * auxChannels, c(AUX_HEADS.fcUnits), true);
      dense(`${auxName}/classifier`, c(AUX_HEADS.fcUnits), config.numClasses, true);
    }
  }
  dense('classifier', channels, config.numClasses, false);
  return layers;
}
