/// The dashboard's script (served at `/ui/app.js`): plain DOM and hand-drawn SVG charts, no
/// libraries, no build step.
extension Dashboard {
    static let javascript = #"""
    // RAdaServe dashboard: plain DOM and hand-drawn SVG, no libraries. The API key lives in
    // sessionStorage (this tab only); every request sends it as a bearer token.
    'use strict';

    const SVGNS = 'http://www.w3.org/2000/svg';
    const KEY_STORAGE = 'rada.key';
    const POLL_MS = 1000;
    const KEEP_ENTRIES = 2000;
    const H = 160, PAD_L = 34, PAD_R = 8, PAD_T = 8, PAD_B = 18;

    const state = {
      key: sessionStorage.getItem(KEY_STORAGE),
      streams: [],
      current: null,
      info: null,
      labels: [],
      entries: [],
      latest: 0,
      polling: false,
      timer: null,
      listTick: 0,
    };

    const $ = (id) => document.getElementById(id);

    class APIError extends Error {
      constructor(status, code, message) { super(message); this.status = status; this.code = code; }
    }

    async function api(method, path, body) {
      const headers = {};
      if (state.key) headers.Authorization = 'Bearer ' + state.key;
      let payload;
      if (body instanceof FormData) payload = body;
      else if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
      const response = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
      const text = await response.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
      if (!response.ok) {
        const error = json && json.error ? json.error : { code: 'http_' + response.status, message: 'HTTP ' + response.status };
        throw new APIError(response.status, error.code, error.message);
      }
      return json;
    }

    const streamPath = (id) => '/v1/streams/' + encodeURIComponent(id);

    function el(tag, attrs, ...children) {
      const node = document.createElement(tag);
      for (const [k, v] of Object.entries(attrs || {})) {
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else node.setAttribute(k, v);
      }
      for (const child of children) node.append(child);
      return node;
    }

    function svg(tag, attrs, text) {
      const node = document.createElementNS(SVGNS, tag);
      for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
      if (text !== undefined) node.textContent = text;
      return node;
    }

    function setStatus(text) { $('status').textContent = text; }

    function showError(id, error) { $(id).textContent = error ? (error.message || String(error)) : ''; }

    // MARK: Sign-in

    async function signIn(key) {
      state.key = key;
      try {
        await loadStreams();
      } catch (error) {
        state.key = null;
        sessionStorage.removeItem(KEY_STORAGE);
        showError('login-error', error.status === 401 ? new Error('The server does not know this key.') : error);
        return;
      }
      sessionStorage.setItem(KEY_STORAGE, key);
      showError('login-error', null);
      $('login').hidden = true;
      $('app').hidden = false;
      $('logout').hidden = false;
      setStatus(key ? 'key set for this tab' : 'no key (server without API keys)');
      startPolling();
    }

    function signOut() {
      sessionStorage.removeItem(KEY_STORAGE);
      state.key = null;
      stopPolling();
      state.current = null;
      state.streams = [];
      $('app').hidden = true;
      $('stream').hidden = true;
      $('login').hidden = false;
      $('logout').hidden = true;
      $('key').value = '';
      setStatus('');
    }

    // MARK: Streams

    async function loadStreams() {
      const list = await api('GET', '/v1/streams');
      state.streams = list.streams.map((s) => s.id).sort();
      renderStreams();
    }

    function renderStreams() {
      const ul = $('streams');
      ul.replaceChildren(...state.streams.map((id) => {
        const button = el('button', { type: 'button', 'data-stream': id, text: id });
        if (id === state.current) button.classList.add('selected');
        button.addEventListener('click', () => selectStream(id));
        return el('li', {}, button);
      }));
      if (state.streams.length === 0) ul.append(el('li', { class: 'muted', text: 'no streams yet' }));
    }

    async function createStream(event) {
      event.preventDefault();
      const labels = $('new-labels').value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
      const id = $('new-id').value.trim();
      const body = { labels };
      if (id) body.id = id;
      try {
        const info = await api('POST', '/v1/streams', body);
        showError('create-error', null);
        $('new-id').value = '';
        $('new-labels').value = '';
        await loadStreams();
        await selectStream(info.id);
      } catch (error) { showError('create-error', error); }
    }

    async function selectStream(id) {
      state.current = id;
      state.info = null;
      state.entries = [];
      state.latest = 0;
      state.labels = [];
      $('results').replaceChildren();
      showError('stream-error', null);
      showError('classify-error', null);
      $('stream-title').textContent = id;
      $('stream').hidden = false;
      renderStreams();
      renderCharts();
      await refresh();
    }

    // MARK: Polling

    function startPolling() {
      stopPolling();
      const tick = async () => {
        if (state.polling) return;
        state.polling = true;
        try {
          state.listTick = (state.listTick + 1) % 5;
          if (state.listTick === 0) await loadStreams();
          await refresh();
        } catch (error) {
          setStatus('update failed: ' + error.message);
        } finally { state.polling = false; }
      };
      state.timer = setInterval(tick, POLL_MS);
    }

    function stopPolling() {
      if (state.timer) clearInterval(state.timer);
      state.timer = null;
    }

    /// New history entries since the last poll; the stream's info when anything changed.
    async function refresh() {
      const id = state.current;
      if (!id) return;
      let changed = state.info === null;
      for (let page = 0; page < 10; page++) {
        const history = await api('GET', streamPath(id) + '/history?since=' + state.latest);
        if (id !== state.current) return;
        state.labels = history.labels;
        if (history.latest < state.latest) {
          // The stream was deleted and created again: start over.
          state.entries = [];
          state.latest = 0;
          changed = true;
          continue;
        }
        // A poll and an action's refresh may overlap: keep only entries not merged yet.
        const fresh = history.entries.filter((e) => e.seq > state.latest);
        if (fresh.length > 0) {
          const resetAt = fresh.map((e) => e.kind).lastIndexOf('reset');
          state.entries = resetAt >= 0 ? fresh.slice(resetAt) : state.entries.concat(fresh);
          if (state.entries.length > KEEP_ENTRIES) state.entries = state.entries.slice(-KEEP_ENTRIES);
          state.latest = fresh[fresh.length - 1].seq;
          changed = true;
        }
        if (!history.more) break;
      }
      if (!changed) return;
      const info = await api('GET', streamPath(id));
      if (id !== state.current) return;
      state.info = info;
      renderInfo();
      renderCharts();
      setStatus('updated ' + new Date().toLocaleTimeString());
    }

    // MARK: Rendering

    function renderInfo() {
      const info = state.info;
      $('c-requests').textContent = info.requests;
      $('c-samples').textContent = info.samplesSeen;
      $('c-optimizer').textContent = info.optimizerSteps;
      $('c-skipped').textContent = info.skippedSteps;
      $('c-autoresets').textContent = info.automaticResets;
      $('c-entropy').textContent = info.runningEntropy === null || info.runningEntropy === undefined ? '–' : info.runningEntropy.toFixed(4);
      $('c-memory').textContent = (info.memoryBytes / 1024).toFixed(1) + ' KiB';
      $('c-centring').textContent = info.centring ? info.centring.share.toFixed(2) + ' (H ' + info.centring.zeroShotEntropy.toFixed(3) + ')' : '–';
      $('hyperparameters').textContent = JSON.stringify(info.hyperparameters, null, 2);
      const list = $('checkpoints');
      list.replaceChildren(...info.checkpoints.map((name) => {
        const restore = el('button', { type: 'button', class: 'secondary', 'data-restore': name, text: 'Restore' });
        restore.addEventListener('click', () => streamAction('POST', '/checkpoints/' + encodeURIComponent(name) + '/restore'));
        const remove = el('button', { type: 'button', class: 'secondary', 'data-delete': name, text: 'Delete' });
        remove.addEventListener('click', () => streamAction('DELETE', '/checkpoints/' + encodeURIComponent(name)));
        return el('li', {}, el('span', { text: name }), restore, remove);
      }));
      if (info.checkpoints.length === 0) list.append(el('li', { class: 'muted', text: 'none' }));
    }

    function classColor(index) { return 'hsl(' + ((index * 137.508) % 360).toFixed(1) + ' 62% 52%)'; }

    /// Chart geometry shared by the three charts: x by position among the drawn requests, in a
    /// view box as wide as the chart is on screen (so text is not stretched).
    function layout(chart, requests) {
      const w = Math.max(300, Math.round(chart.getBoundingClientRect().width) || 600);
      chart.setAttribute('viewBox', '0 0 ' + w + ' ' + H);
      const n = requests.length;
      const span = w - PAD_L - PAD_R;
      const step = n > 0 ? span / n : span;
      return { w, n, step, x: (i) => PAD_L + step * (i + 0.5), y: (v, max) => PAD_T + (H - PAD_T - PAD_B) * (1 - Math.min(v, max) / max) };
    }

    function frame(chart, geometry, max, decimals) {
      chart.replaceChildren();
      chart.append(svg('line', { class: 'axis', x1: PAD_L, y1: H - PAD_B, x2: geometry.w - PAD_R, y2: H - PAD_B }));
      chart.append(svg('line', { class: 'axis', x1: PAD_L, y1: PAD_T, x2: PAD_L, y2: H - PAD_B }));
      chart.append(svg('text', { class: 'tick', x: 2, y: PAD_T + 8 }, max.toFixed(decimals)));
      chart.append(svg('text', { class: 'tick', x: 2, y: H - PAD_B }, '0'));
    }

    /// Index of each entry among the requests: a mark sits before the request that follows it.
    function markPositions() {
      const marks = [];
      let index = 0;
      for (const entry of state.entries) {
        if (entry.kind === 'request') {
          if (entry.automaticReset) marks.push({ at: index + 1, kind: 'auto', title: 'automatic reset after request ' + entry.seq });
          index += 1;
        } else {
          marks.push({ at: index, kind: entry.kind, title: entry.kind + (entry.checkpoint ? ' ' + entry.checkpoint : '') + ' at ' + new Date(entry.time).toLocaleTimeString() });
        }
      }
      return marks;
    }

    function drawMarks(chart, geometry, marks) {
      for (const mark of marks) {
        const x = PAD_L + geometry.step * mark.at;
        const line = svg('line', { class: 'mark k-' + mark.kind, 'data-kind': mark.kind, x1: x, y1: PAD_T, x2: x, y2: H - PAD_B });
        line.append(svg('title', {}, mark.title));
        chart.append(line);
      }
      chart.setAttribute('data-marks', marks.length);
    }

    function lineChart(chart, requests, value, max, decimals) {
      const geometry = layout(chart, requests);
      frame(chart, geometry, max, decimals);
      const points = requests.map((entry, i) => geometry.x(i).toFixed(1) + ',' + geometry.y(value(entry), max).toFixed(1));
      if (points.length > 0) chart.append(svg('polyline', { class: 'series', points: points.join(' ') }));
      if (requests.length <= 120) {
        requests.forEach((entry, i) => {
          const dot = svg('circle', { class: entry.skipped === 'filtered' ? 'dot skip' : 'dot', cx: geometry.x(i).toFixed(1), cy: geometry.y(value(entry), max).toFixed(1), r: 2.5 });
          dot.append(svg('title', {}, '#' + entry.seq + ': ' + value(entry).toFixed(4) + (entry.skipped ? ' (step skipped: ' + entry.skipped + ')' : '')));
          chart.append(dot);
        });
      }
      drawMarks(chart, geometry, markPositions());
      chart.setAttribute('data-points', requests.length);
      chart.setAttribute('data-last', requests.length > 0 ? value(requests[requests.length - 1]).toFixed(6) : '');
    }

    function classChart(chart, requests) {
      const geometry = layout(chart, requests);
      frame(chart, geometry, 1, 0);
      const totals = new Map();
      requests.forEach((entry, i) => {
        const bar = svg('g', { class: 'bar', 'data-seq': entry.seq });
        let top = H - PAD_B;
        for (const [index, count] of entry.classes) {
          totals.set(index, (totals.get(index) || 0) + count);
          const height = (H - PAD_T - PAD_B) * count / entry.images;
          top -= height;
          const width = Math.min(Math.max(geometry.step * 0.8, 0.5), 48);
          const rect = svg('rect', { x: (geometry.x(i) - width / 2).toFixed(1), y: top.toFixed(1), width: width.toFixed(1), height: height.toFixed(1), fill: classColor(index) });
          rect.append(svg('title', {}, '#' + entry.seq + ' ' + (state.labels[index] || index) + ': ' + count + '/' + entry.images));
          bar.append(rect);
        }
        chart.append(bar);
      });
      drawMarks(chart, geometry, markPositions());
      chart.setAttribute('data-points', requests.length);
      const legend = $('legend');
      const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
      legend.replaceChildren(...ranked.map(([index, count]) => {
        const item = el('li', { text: (state.labels[index] || String(index)) + ' ' + count });
        const swatch = svg('svg', { width: 10, height: 10 });
        swatch.append(svg('rect', { width: 10, height: 10, fill: classColor(index) }));
        item.prepend(swatch);
        item.classList.add('plain');
        return item;
      }));
    }

    function renderCharts() {
      const requests = state.entries.filter((e) => e.kind === 'request');
      const k = Math.max(state.labels.length, 2);
      const maxEntropy = Math.max(Math.log(k), ...requests.map((e) => e.meanEntropy));
      lineChart($('chart-entropy'), requests, (e) => e.meanEntropy, maxEntropy, 2);
      lineChart($('chart-confidence'), requests, (e) => e.meanConfidence, 1, 0);
      classChart($('chart-classes'), requests);
      $('c-points').textContent = requests.length;
    }

    // MARK: Actions

    async function streamAction(method, suffix, body) {
      const id = state.current;
      if (!id) return;
      try {
        await api(method, streamPath(id) + suffix, body);
        showError('stream-error', null);
        state.info = null;
        await refresh();
      } catch (error) { showError('stream-error', error); }
    }

    async function classify(files) {
      const id = state.current;
      if (!id || files.length === 0) return;
      const images = [...files].filter((f) => f.type === 'image/png' || f.type === 'image/jpeg' || /\.(png|jpe?g)$/i.test(f.name));
      if (images.length === 0) { showError('classify-error', new Error('only PNG and JPEG images')); return; }
      const top = Math.min(100, Math.max(1, parseInt($('top').value, 10) || 5));
      const adapt = $('adapt').checked;
      showError('classify-error', null);
      for (let start = 0; start < images.length; start += 64) {
        const chunk = images.slice(start, start + 64);
        const form = new FormData();
        for (const file of chunk) form.append('image', file, file.name);
        try {
          const answer = await api('POST', streamPath(id) + '/classify?top=' + top + '&adapt=' + adapt, form);
          showResults(chunk, answer);
        } catch (error) { showError('classify-error', error); return; }
      }
      await refresh();
    }

    function showResults(files, answer) {
      const results = $('results');
      for (const old of results.querySelectorAll('img')) URL.revokeObjectURL(old.src);
      results.replaceChildren(...answer.results.map((result, i) => {
        const image = el('img', { alt: files[i].name, src: URL.createObjectURL(files[i]) });
        const table = el('table', {}, ...result.top.map((label) => {
          const meter = el('meter', { min: '0', max: '1', value: String(label.probability) });
          return el('tr', {}, el('td', { text: label.label }), el('td', {}, meter), el('td', { text: (label.probability * 100).toFixed(1) + '%' }));
        }));
        const caption = el('div', {}, el('strong', { text: files[i].name }), el('div', { class: 'muted', text: 'entropy ' + result.entropy.toFixed(3) + ' · request ' + answer.request }), table);
        return el('div', { class: 'result', 'data-top': result.top[0].label }, image, caption);
      }));
    }

    // MARK: Wiring

    function wire() {
      $('login-form').addEventListener('submit', (event) => { event.preventDefault(); signIn($('key').value.trim()); });
      $('logout').addEventListener('click', signOut);
      $('create-form').addEventListener('submit', createStream);
      $('checkpoint-form').addEventListener('submit', (event) => {
        event.preventDefault();
        const name = $('checkpoint-name').value.trim();
        $('checkpoint-name').value = '';
        streamAction('POST', '/checkpoints', { name });
      });
      $('reset').addEventListener('click', () => streamAction('POST', '/reset'));
      const drop = $('drop'), input = $('files');
      drop.addEventListener('click', () => input.click());
      drop.addEventListener('keydown', (event) => { if (event.key === 'Enter' || event.key === ' ') input.click(); });
      input.addEventListener('change', () => { classify(input.files); input.value = ''; });
      drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
      drop.addEventListener('dragleave', () => drop.classList.remove('over'));
      drop.addEventListener('drop', (event) => { event.preventDefault(); drop.classList.remove('over'); classify(event.dataTransfer.files); });
      window.addEventListener('resize', () => { if (state.current) renderCharts(); });
      if (state.key !== null) signIn(state.key);
    }

    document.addEventListener('DOMContentLoaded', wire);
    """#
}
