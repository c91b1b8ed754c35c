// The dashboard page: folds the coordinator's event stream (GET /events, Server-Sent Events; the
// event kinds are RunEvent in apps/coordinator/src/run_events.ts) into curves drawn with uPlot and
// tables, redrawn at most a few times a second. Plain script, no build step: the coordinator
// serves this file as it is. Data from the run is only ever set as text (never as HTML).
/* global document, setTimeout, setInterval, EventSource, ResizeObserver, uPlot */
'use strict';

(() => {
  const CHART_HEIGHT = 240;
  const RENDER_EVERY_MS = 250;
  /** Timeline lines kept (oldest dropped first). */
  const MAX_TIMELINE = 500;
  const COLORS = {
    step: '#8fb3d9',
    train: '#1f77b4',
    val: '#ff7f0e',
    test: '#2ca02c',
    all: '#1d2330',
    compute: '#4c78a8',
    reduce: '#f58518',
    wait: '#a39a92',
    lr: '#6a3d9a',
  };
  const WORKER_COLORS = ['#e45756', '#54a24b', '#b279a2', '#9d755d', '#72b7b2', '#eeca3b', '#ff9da6', '#bab0ac'];

  /** Everything drawn, folded from the events. Series arrays are aligned on `x` (global steps), null where a series has no value. */
  function emptyModel() {
    return {
      started: null,
      status: 'waiting',
      generation: null,
      worldSize: 0,
      lastStep: null,
      stepsSeen: 0,
      skipped: 0,
      checkpoints: 0,
      lastEventMs: null,
      test: null,
      lastVal: null,
      /** Per-class accuracy of the latest evaluation of each split: { val: {epoch, classes}, test: ... }. */
      perClass: {},
      failure: null,
      /** workerId → { rank, workerId, backend, device, state: 'joined' | 'active' | 'lost' | 'left', last } */
      workers: new Map(),
      epochs: [],
      timeline: [],
      x: [],
      cols: {
        loss: [],
        acc: [],
        epochLoss: [],
        epochAcc: [],
        valLoss: [],
        valAcc: [],
        testLoss: [],
        testAcc: [],
        lr: [],
        ips: [],
        compute: [],
        reduce: [],
        wait: [],
      },
      /** workerId → images/s per step */
      workerIps: new Map(),
    };
  }
  let model = emptyModel();

  const allCols = () => [...Object.values(model.cols), ...model.workerIps.values()];

  /** Index of global step `step` in `x`, inserting it (sorted) with nulls in every series if new. */
  function indexFor(step) {
    const x = model.x;
    if (x.length === 0 || step > x[x.length - 1]) {
      x.push(step);
      for (const c of allCols()) c.push(null);
      return x.length - 1;
    }
    let lo = 0;
    let hi = x.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (x[mid] < step) lo = mid + 1;
      else hi = mid;
    }
    if (x[lo] !== step) {
      x.splice(lo, 0, step);
      for (const c of allCols()) c.splice(lo, 0, null);
    }
    return lo;
  }

  /** Drops every point at or after `step`: after a rollback to a checkpoint those steps are trained again. */
  function truncateFrom(step) {
    let n = model.x.length;
    while (n > 0 && model.x[n - 1] >= step) n -= 1;
    if (n === model.x.length) return;
    model.x.length = n;
    for (const c of allCols()) c.length = n;
  }

  function note(atMs, kind, text) {
    model.timeline.push({ atMs, kind, text });
    if (model.timeline.length > MAX_TIMELINE) model.timeline.splice(0, model.timeline.length - MAX_TIMELINE);
  }

  /** Global step at which epoch `epoch` (0-based) ends: where its points are drawn. */
  const epochEndStep = (epoch) => (epoch + 1) * (model.started ? model.started.stepsPerEpoch : 1) - 1;

  function apply(e) {
    model.lastEventMs = e.atMs;
    switch (e.kind) {
      case 'started':
        model.started = e;
        model.status = 'training';
        note(e.atMs, 'started', e.resumedAtStep === null ? `run ${e.runId} started` : `run ${e.runId} resumed at step ${e.resumedAtStep}`);
        break;
      case 'membership': {
        const known = model.workers.get(e.workerId);
        if (e.event === 'joined') {
          const [backend, device] = e.reason.split(' on ');
          if (known === undefined || known.state !== 'active')
            model.workers.set(e.workerId, {
              rank: null,
              workerId: e.workerId,
              backend: backend ?? '',
              device: device ?? '',
              state: 'joined',
              last: known ? known.last : null,
            });
          note(e.atMs, 'joined', `${e.workerId} joined (${e.reason})`);
        } else {
          if (known !== undefined) known.state = 'lost';
          note(e.atMs, 'lost', `${e.workerId} (rank ${e.rank ?? '?'}) lost: ${e.reason}`);
        }
        break;
      }
      case 'generation': {
        const members = new Set(e.workers.map((w) => w.workerId));
        for (const w of model.workers.values()) if (w.state === 'active' && !members.has(w.workerId)) w.state = 'left';
        for (const w of e.workers) {
          const known = model.workers.get(w.workerId);
          model.workers.set(w.workerId, { ...w, state: 'active', last: known ? known.last : null });
          if (!model.workerIps.has(w.workerId)) model.workerIps.set(w.workerId, new Array(model.x.length).fill(null));
        }
        model.generation = e.generation;
        model.worldSize = e.worldSize;
        note(
          e.atMs,
          'generation',
          `generation ${e.generation}: ${e.worldSize} workers at step ${e.globalStep} (micro-batch ${e.microBatch})`,
        );
        break;
      }
      case 'step': {
        if (model.x.length > 0 && e.globalStep <= model.x[model.x.length - 1]) truncateFrom(e.globalStep);
        const i = indexFor(e.globalStep);
        const c = model.cols;
        c.loss[i] = e.loss;
        c.acc[i] = e.accuracy * 100;
        c.lr[i] = e.lr;
        c.ips[i] = e.imagesPerSecond;
        let compute = 0;
        let reduce = 0;
        let wait = 0;
        for (const w of e.workers) {
          const t = w.timings;
          const figures = {
            computeMs: Math.max(0, t.stepMs - t.reduceMs),
            reduceMs: t.reduceMs,
            waitMs: w.waitMs,
            imagesPerSecond: t.stepMs > 0 ? (w.count * 1000) / t.stepMs : 0,
            numTensors: w.memory.numTensors,
            rssBytes: w.memory.rssBytes,
          };
          compute += figures.computeMs;
          reduce += figures.reduceMs;
          wait += figures.waitMs;
          const worker = model.workers.get(w.workerId);
          if (worker !== undefined) worker.last = figures;
          const series = model.workerIps.get(w.workerId);
          if (series !== undefined) series[i] = figures.imagesPerSecond;
        }
        const n = Math.max(1, e.workers.length);
        c.compute[i] = compute / n;
        c.reduce[i] = reduce / n;
        c.wait[i] = wait / n;
        model.lastStep = e;
        model.stepsSeen += 1;
        if (e.skipped) model.skipped += 1;
        break;
      }
      case 'epoch': {
        const r = e.record;
        model.epochs = [...model.epochs.filter((p) => p.epoch < r.epoch), r];
        const i = indexFor(epochEndStep(r.epoch - 1));
        model.cols.epochLoss[i] = r.trainLoss;
        model.cols.epochAcc[i] = r.trainAccuracy * 100;
        break;
      }
      case 'evaluation': {
        const i = indexFor(e.split === 'test' && model.started ? model.started.totalSteps - 1 : epochEndStep(e.epoch));
        model.perClass[e.split] = { epoch: e.epoch, classes: e.perClassAccuracy };
        if (e.split === 'val') {
          model.cols.valLoss[i] = e.loss;
          model.cols.valAcc[i] = e.accuracy * 100;
          model.lastVal = e;
        } else {
          model.cols.testLoss[i] = e.loss;
          model.cols.testAcc[i] = e.accuracy * 100;
        }
        break;
      }
      case 'checkpoint':
        model.checkpoints += 1;
        note(e.atMs, 'checkpoint', `checkpoint at step ${e.globalStep}: ${e.path}`);
        break;
      case 'finished':
        model.status = 'finished';
        model.test = e.test;
        note(e.atMs, 'finished', `finished: test accuracy ${pct(e.test.accuracy)}`);
        break;
      case 'failed':
        model.status = 'failed';
        model.failure = e;
        note(e.atMs, 'failed', `failed (${e.code}): ${e.message}`);
        break;
    }
  }

  // ---- formatting -------------------------------------------------------------------------
  const dash = '–';
  const num = (v, digits) => (v === null || v === undefined || !Number.isFinite(v) ? dash : v.toFixed(digits));
  const pct = (v) => (v === null || v === undefined ? dash : `${(v * 100).toFixed(2)}%`);
  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  function duration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return h > 0 ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
  }
  const $ = (id) => document.getElementById(id);
  const setText = (id, text) => {
    const el = $(id);
    if (el.textContent !== text) el.textContent = text;
  };
  function cell(row, text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  // ---- charts -----------------------------------------------------------------------------
  const line = (label, stroke, extra) => ({
    label,
    stroke,
    width: 1.5,
    spanGaps: true,
    points: { show: false },
    value: (_u, v) => (v === null || v === undefined ? dash : v.toPrecision(4)),
    ...extra,
  });
  const dots = (label, stroke) => line(label, stroke, { width: 2, points: { show: true, size: 7, fill: stroke } });

  /** Chart name → { series options, data columns }. */
  const chartDefs = {
    loss: () => ({
      series: [
        line('train (step)', COLORS.step),
        dots('train (epoch)', COLORS.train),
        dots('validation', COLORS.val),
        dots('test', COLORS.test),
      ],
      data: [model.cols.loss, model.cols.epochLoss, model.cols.valLoss, model.cols.testLoss],
    }),
    accuracy: () => ({
      series: [
        line('train (step)', COLORS.step),
        dots('train (epoch)', COLORS.train),
        dots('validation', COLORS.val),
        dots('test', COLORS.test),
      ],
      data: [model.cols.acc, model.cols.epochAcc, model.cols.valAcc, model.cols.testAcc],
    }),
    throughput: () => {
      const ids = [...model.workerIps.keys()];
      return {
        series: [line('all workers', COLORS.all, { width: 2 }), ...ids.map((id, k) => line(id, WORKER_COLORS[k % WORKER_COLORS.length]))],
        data: [model.cols.ips, ...ids.map((id) => model.workerIps.get(id))],
      };
    },
    steptime: () => ({
      series: [line('compute', COLORS.compute), line('communication', COLORS.reduce), line('waiting', COLORS.wait)],
      data: [model.cols.compute, model.cols.reduce, model.cols.wait],
    }),
    lr: () => ({ series: [line('learning rate', COLORS.lr, { width: 2 })], data: [model.cols.lr] }),
  };

  /** Chart name → { plot, element, labels } */
  const charts = new Map();

  function drawChart(el) {
    const name = el.dataset.chart;
    const def = chartDefs[name]();
    const data = [model.x, ...def.data];
    const labels = def.series.map((s) => s.label).join('|');
    let chart = charts.get(name);
    if (chart === undefined || chart.labels !== labels) {
      if (chart !== undefined) chart.plot.destroy();
      const plot = new uPlot(
        {
          width: Math.max(200, el.clientWidth),
          height: CHART_HEIGHT,
          scales: { x: { time: false } },
          axes: [{ label: 'global step', labelSize: 18, size: 36 }, { size: 56 }],
          series: [{ label: 'step', value: (_u, v) => (v === null || v === undefined ? dash : String(v)) }, ...def.series],
          legend: { live: true },
        },
        data,
        el,
      );
      chart = { plot, labels };
      charts.set(name, chart);
    } else {
      chart.plot.setData(data);
    }
    let points = 0;
    for (const column of def.data) for (const v of column) if (v !== null && v !== undefined) points += 1;
    el.dataset.points = String(points);
  }

  // ---- tables and header ------------------------------------------------------------------
  function renderHeader() {
    const s = model.started;
    const last = model.lastStep;
    const status = $('status');
    status.textContent = model.status;
    status.className = `badge ${model.status}`;
    setText('run-id', s ? `run ${s.runId} · ${s.epochs} epochs of ${s.stepsPerEpoch} steps` : 'waiting for the run to start');
    const done = last ? last.globalStep + 1 : 0;
    $('progress-bar').style.width = s && s.totalSteps > 0 ? `${Math.min(100, (100 * done) / s.totalSteps)}%` : '0';
    setText('epoch', s && last ? `${last.epoch + 1} / ${s.epochs}` : dash);
    setText('step', s ? `${done} / ${s.totalSteps}` : dash);
    setText('world-size', model.worldSize > 0 ? String(model.worldSize) : dash);
    setText('generation', model.generation === null ? dash : String(model.generation));
    setText('lr', last ? (last.lr >= 1e-3 || last.lr === 0 ? last.lr.toPrecision(3) : last.lr.toExponential(2)) : dash);
    setText('ips', last ? num(last.imagesPerSecond, 1) : dash);
    setText('loss', last ? num(last.loss, 4) : dash);
    setText('val-acc', model.lastVal ? pct(model.lastVal.accuracy) : dash);
    setText('test-acc', model.test ? pct(model.test.accuracy) : dash);
    setText('skipped', String(model.skipped));
    setText('checkpoints', String(model.checkpoints));
    renderElapsed();
    const failure = $('failure');
    failure.hidden = model.failure === null;
    if (model.failure) failure.textContent = `${model.failure.code}: ${model.failure.message}`;
    document.body.dataset.steps = String(model.stepsSeen);
  }

  function renderElapsed() {
    if (!model.started) return;
    const end = model.status === 'training' ? Date.now() : model.lastEventMs;
    setText('elapsed', duration(end - model.started.atMs));
  }

  function renderWorkers() {
    const body = $('workers').tBodies[0];
    body.replaceChildren();
    const order = { active: 0, joined: 1, left: 2, lost: 3 };
    const workers = [...model.workers.values()].sort((a, b) => order[a.state] - order[b.state] || (a.rank ?? 1e9) - (b.rank ?? 1e9));
    const longest = Math.max(1e-9, ...workers.map((w) => (w.last ? w.last.computeMs + w.last.reduceMs + w.last.waitMs : 0)));
    for (const w of workers) {
      const row = document.createElement('tr');
      row.dataset.worker = w.workerId;
      if (w.state === 'lost' || w.state === 'left') row.className = 'inactive';
      const f = w.last;
      cell(row, w.rank === null ? dash : String(w.rank));
      cell(row, w.workerId);
      cell(row, w.backend);
      cell(row, w.device);
      cell(row, f ? num(f.imagesPerSecond, 1) : dash);
      cell(row, f ? num(f.computeMs, 0) : dash);
      cell(row, f ? num(f.reduceMs, 0) : dash);
      cell(row, f ? num(f.waitMs, 0) : dash);
      const bar = document.createElement('div');
      bar.className = 'split';
      if (f) {
        for (const [key, value] of [
          ['compute', f.computeMs],
          ['reduce', f.reduceMs],
          ['wait', f.waitMs],
        ]) {
          const part = document.createElement('span');
          part.className = key;
          part.style.width = `${(100 * value) / longest}%`;
          part.title = `${key} ${value.toFixed(0)} ms`;
          bar.appendChild(part);
        }
      }
      cell(row, '').appendChild(bar);
      cell(row, f ? String(f.numTensors) : dash);
      cell(row, f ? num(f.rssBytes / 2 ** 20, 0) : dash);
      cell(row, w.state);
      body.appendChild(row);
    }
  }

  function renderEpochs() {
    const body = $('epochs').tBodies[0];
    body.replaceChildren();
    for (const r of model.epochs) {
      const row = document.createElement('tr');
      cell(row, String(r.epoch));
      cell(row, num(r.trainLoss, 4));
      cell(row, pct(r.trainAccuracy));
      cell(row, num(r.valLoss, 4));
      cell(row, pct(r.valAccuracy));
      cell(row, num(r.imagesPerSecond, 1));
      cell(row, r.communicationShare === undefined ? dash : pct(r.communicationShare));
      cell(row, num(r.seconds, 1));
      body.appendChild(row);
    }
  }

  /** One row per split evaluated so far (its latest evaluation), one column per class. */
  function renderPerClass() {
    const table = $('per-class');
    const rows = [
      ['val', 'validation'],
      ['test', 'test'],
    ].filter(([split]) => model.perClass[split]);
    if (rows.length === 0) {
      table.tHead.replaceChildren();
      table.tBodies[0].replaceChildren();
      return;
    }
    const names = Object.keys(model.perClass[rows[0][0]].classes);
    const head = document.createElement('tr');
    cell(head, 'split');
    for (const name of names) cell(head, name);
    table.tHead.replaceChildren(head);
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const [split, label] of rows) {
      const { epoch, classes } = model.perClass[split];
      const row = document.createElement('tr');
      row.dataset.split = split;
      cell(row, split === 'val' ? `${label} (epoch ${epoch})` : label);
      for (const name of names) cell(row, pct(classes[name]));
      body.appendChild(row);
    }
  }

  let timelineShown = -1;
  function renderTimeline() {
    const last = model.timeline[model.timeline.length - 1];
    const key = model.timeline.length + (last ? last.atMs : 0);
    if (key === timelineShown) return;
    timelineShown = key;
    const list = $('timeline');
    list.replaceChildren();
    for (const entry of [...model.timeline].reverse()) {
      const li = document.createElement('li');
      const time = document.createElement('time');
      time.textContent = clock(entry.atMs);
      const kind = document.createElement('span');
      kind.className = `kind ${entry.kind}`;
      kind.textContent = entry.kind;
      const text = document.createElement('span');
      text.textContent = entry.text;
      li.append(time, kind, text);
      list.appendChild(li);
    }
  }

  let configShown = null;
  function renderConfig() {
    const config = model.started ? model.started.config : null;
    if (config === configShown) return;
    configShown = config;
    const list = $('config');
    list.replaceChildren();
    for (const [key, value] of Object.entries(config ?? {})) {
      const item = document.createElement('div');
      const dt = document.createElement('dt');
      dt.textContent = key;
      const dd = document.createElement('dd');
      dd.textContent = typeof value === 'string' ? value : JSON.stringify(value);
      item.append(dt, dd);
      list.appendChild(item);
    }
  }

  function render() {
    renderTimer = null;
    renderHeader();
    for (const el of document.querySelectorAll('.chart')) drawChart(el);
    renderWorkers();
    renderEpochs();
    renderPerClass();
    renderTimeline();
    renderConfig();
  }

  let renderTimer = null;
  const scheduleRender = () => {
    if (renderTimer === null) renderTimer = setTimeout(render, RENDER_EVERY_MS);
  };

  // ---- wiring -----------------------------------------------------------------------------
  const resize = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const chart = charts.get(entry.target.dataset.chart);
      if (chart !== undefined) chart.plot.setSize({ width: Math.max(200, entry.target.clientWidth), height: CHART_HEIGHT });
    }
  });
  for (const el of document.querySelectorAll('.chart')) resize.observe(el);

  function setConnection(online) {
    const badge = $('connection');
    badge.textContent = online ? 'live' : model.status === 'training' || model.status === 'waiting' ? 'reconnecting' : 'disconnected';
    badge.className = `badge ${online ? 'online' : 'offline'}`;
  }

  const source = new EventSource('/events');
  source.addEventListener('reset', () => {
    model = emptyModel();
    timelineShown = -1;
    scheduleRender();
  });
  source.onmessage = (message) => {
    apply(JSON.parse(message.data));
    scheduleRender();
  };
  source.onopen = () => setConnection(true);
  source.onerror = () => setConnection(false);
  setInterval(renderElapsed, 1000);
  render();
})();
