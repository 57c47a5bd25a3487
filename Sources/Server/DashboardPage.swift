/// The dashboard's page and style sheet (served at `/ui` and `/ui/app.css`): compiled into the
/// binary, no build step. The page carries no inline script or style, so the strict
/// Content-Security-Policy of `Dashboard` holds.
extension Dashboard {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>RAdaServe dashboard</title>
    <link rel="stylesheet" href="/ui/app.css">
    <script src="/ui/app.js" defer></script>
    </head>
    <body>
    <header>
      <h1>RAdaServe</h1>
      <span id="status" class="status" role="status"></span>
      <button id="logout" type="button" hidden>Forget key</button>
    </header>
    <main>
      <section id="login" class="panel">
        <h2>API key</h2>
        <p>The key stays in this tab only (sessionStorage) and is sent as <code>Authorization: Bearer</code>. Leave it empty when the server has no keys.</p>
        <form id="login-form">
          <input id="key" type="password" autocomplete="off" placeholder="key" aria-label="API key">
          <button type="submit">Open</button>
        </form>
        <p id="login-error" class="error"></p>
      </section>
      <div id="app" hidden>
        <nav class="panel">
          <h2>Streams</h2>
          <ul id="streams"></ul>
          <form id="create-form">
            <h3>New stream</h3>
            <input id="new-id" placeholder="id (optional)" aria-label="stream id">
            <input id="new-labels" placeholder="labels, comma-separated" aria-label="labels" required>
            <button type="submit">Create</button>
          </form>
          <p id="create-error" class="error"></p>
        </nav>
        <section id="stream" class="panel" hidden>
          <h2 id="stream-title"></h2>
          <div class="row">
            <dl id="counters" class="counters">
              <div><dt>requests</dt><dd id="c-requests">0</dd></div>
              <div><dt>images</dt><dd id="c-samples">0</dd></div>
              <div><dt>optimiser steps</dt><dd id="c-optimizer">0</dd></div>
              <div><dt>skipped steps</dt><dd id="c-skipped">0</dd></div>
              <div><dt>automatic resets</dt><dd id="c-autoresets">0</dd></div>
              <div><dt>running entropy</dt><dd id="c-entropy">–</dd></div>
              <div><dt>centring share</dt><dd id="c-centring" title="share of the running mean embedding subtracted now, and zero-shot's running entropy (fraction of log K) that opens the gate">–</dd></div>
              <div><dt>memory</dt><dd id="c-memory">0</dd></div>
              <div><dt>history points</dt><dd id="c-points">0</dd></div>
            </dl>
          </div>
          <div class="charts">
            <figure><figcaption>Mean entropy per request (nats)</figcaption><svg id="chart-entropy" class="chart" viewBox="0 0 600 160" role="img" aria-label="entropy"></svg></figure>
            <figure><figcaption>Mean top-1 confidence per request</figcaption><svg id="chart-confidence" class="chart" viewBox="0 0 600 160" role="img" aria-label="confidence"></svg></figure>
            <figure><figcaption>Predicted class mix per request</figcaption><svg id="chart-classes" class="chart" viewBox="0 0 600 160" role="img" aria-label="class mix"></svg><ul id="legend" class="legend"></ul></figure>
            <ul class="legend marks"><li class="k-reset">reset</li><li class="k-restore">restore</li><li class="k-checkpoint">checkpoint</li><li class="k-auto">automatic reset</li><li class="k-skip">step skipped</li></ul>
          </div>
          <div class="row split">
            <div>
              <h3>Classify</h3>
              <div id="drop" class="drop" tabindex="0">Drop PNG or JPEG images here, or click to choose<input id="files" type="file" accept="image/png,image/jpeg" multiple hidden></div>
              <label class="inline"><input id="adapt" type="checkbox" checked> adapt</label>
              <label class="inline">top <input id="top" type="number" min="1" max="100" value="5"></label>
              <p id="classify-error" class="error"></p>
              <div id="results"></div>
            </div>
            <div>
              <h3>Checkpoints</h3>
              <ul id="checkpoints"></ul>
              <form id="checkpoint-form">
                <input id="checkpoint-name" placeholder="name" aria-label="checkpoint name" required>
                <button type="submit">Save</button>
              </form>
              <button id="reset" type="button" class="danger">Reset stream</button>
              <p id="stream-error" class="error"></p>
              <h3>Hyperparameters</h3>
              <pre id="hyperparameters"></pre>
            </div>
          </div>
        </section>
      </div>
    </main>
    </body>
    </html>
    """#

    static let css = #"""
    :root { --fg: #1d2330; --muted: #6b7385; --line: #d9dde5; --bg: #f6f7f9; --panel: #fff; --accent: #2f6fde; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
    header { display: flex; align-items: center; gap: 1rem; padding: .6rem 1rem; background: var(--fg); color: #fff; }
    header h1 { font-size: 1.1rem; margin: 0; }
    .status { flex: 1; color: #c9d1e0; font-size: .85rem; }
    main { padding: 1rem; }
    #app { display: grid; grid-template-columns: 16rem 1fr; gap: 1rem; align-items: start; }
    .panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; }
    #login { max-width: 32rem; }
    h2 { font-size: 1.05rem; margin: 0 0 .6rem; }
    h3 { font-size: .95rem; margin: .8rem 0 .4rem; }
    input, button { font: inherit; padding: .3rem .5rem; border: 1px solid var(--line); border-radius: 4px; }
    button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
    button.secondary { background: #fff; color: var(--accent); }
    button.danger { background: #b3261e; border-color: #b3261e; margin-top: .6rem; }
    #streams { list-style: none; padding: 0; margin: 0 0 .6rem; }
    #streams li button { width: 100%; text-align: left; background: #fff; color: var(--fg); border-color: var(--line); margin-bottom: .25rem; }
    #streams li button.selected { border-color: var(--accent); background: #e8f0fd; }
    #create-form input { width: 100%; margin-bottom: .3rem; }
    .error { color: #b3261e; min-height: 1em; margin: .3rem 0; }
    .counters { display: grid; grid-template-columns: repeat(4, minmax(8rem, 1fr)); gap: .4rem; margin: 0 0 .6rem; width: 100%; }
    .counters div { border: 1px solid var(--line); border-radius: 4px; padding: .3rem .5rem; }
    .counters dt { color: var(--muted); font-size: .75rem; }
    .counters dd { margin: 0; font-size: 1.15rem; font-variant-numeric: tabular-nums; }
    .charts figure { margin: 0 0 .6rem; }
    .charts figcaption { color: var(--muted); font-size: .8rem; }
    .chart { width: 100%; height: 160px; background: #fbfcfd; border: 1px solid var(--line); border-radius: 4px; }
    .chart .axis { stroke: var(--line); }
    .chart .tick { fill: var(--muted); font-size: 10px; }
    .chart .series { fill: none; stroke: var(--accent); stroke-width: 1.5; }
    .chart .dot { fill: var(--accent); }
    .chart .mark { stroke-width: 1.5; stroke-dasharray: 3 2; }
    .legend { list-style: none; padding: 0; margin: .2rem 0; display: flex; flex-wrap: wrap; gap: .3rem .8rem; font-size: .8rem; color: var(--muted); }
    .legend li::before { content: ""; display: inline-block; width: .7rem; height: .7rem; margin-right: .3rem; vertical-align: -1px; border-radius: 2px; background: currentColor; }
    .k-reset { color: #b3261e; } .k-restore { color: #7b3fc4; } .k-checkpoint { color: #1a8a4a; } .k-auto { color: #e07b00; } .k-skip { color: #8a8f99; }
    .mark.k-reset { stroke: #b3261e; } .mark.k-restore { stroke: #7b3fc4; } .mark.k-checkpoint { stroke: #1a8a4a; } .mark.k-auto { stroke: #e07b00; }
    .skip { fill: #8a8f99; }
    .split { display: grid; grid-template-columns: 1fr 1fr; gap: 1.2rem; }
    .drop { border: 2px dashed var(--line); border-radius: 6px; padding: 1.4rem; text-align: center; color: var(--muted); cursor: pointer; }
    .drop.over { border-color: var(--accent); background: #e8f0fd; }
    .inline { margin-right: .8rem; }
    .inline input[type=number] { width: 4rem; }
    .result { display: flex; gap: .6rem; border-top: 1px solid var(--line); padding: .4rem 0; }
    .result img { width: 64px; height: 64px; object-fit: cover; border-radius: 4px; background: #eee; }
    .result table { border-collapse: collapse; font-size: .85rem; }
    .result td { padding: 0 .4rem 0 0; }
    .result meter { width: 8rem; }
    #checkpoints { list-style: none; padding: 0; margin: 0 0 .4rem; }
    #checkpoints li { display: flex; gap: .4rem; align-items: center; margin-bottom: .25rem; }
    #checkpoints li span { flex: 1; }
    pre { background: #fbfcfd; border: 1px solid var(--line); border-radius: 4px; padding: .5rem; font-size: .75rem; max-height: 16rem; overflow: auto; }
    .legend li.plain::before { display: none; }
    .legend li svg { margin-right: .3rem; vertical-align: -1px; }
    .muted { color: var(--muted); }
    """#
}
