// Writes DIR/summary.md from what compare.sh left in DIR: measurements.json (CPU and wall
// times from /usr/bin/time, the server's CPU during each run, the parameters),
// artillery-report.json and artillery-baseline-report.json (Artillery's `-o` reports) and
// wsbench-run/summary.csv. Prints the table too.
//
//   node summarize.mjs DIR
//
// "Messages" are Socket.IO packets through the load generator: requests sent plus acks
// received. Messages per CPU-second = (sent + acks) / the load generator's CPU seconds.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node summarize.mjs DIR');
  process.exit(2);
}
const read = (f) => readFileSync(join(dir, f), 'utf8');
const m = JSON.parse(read('measurements.json'));

/** "user sys wall maxrss server_cpu" from compare.sh. */
function times(s) {
  const [user, sys, wall, rssKb, serverCpu] = s.trim().split(/\s+/).map(Number);
  return { cpu: user + sys, user, sys, wall, rssKb, serverCpu };
}

/** The rows of a CSV file with a header, as objects; quotes handled (the notes column may hold commas). */
function csvRows(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else if (c !== '\r') field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}

function artilleryCounts(report) {
  const a = report.aggregate;
  const c = a.counters;
  const rt = a.summaries['socketio.response_time'] || { count: 0 };
  const errors = Object.entries(c)
    .filter(([k]) => k.startsWith('errors.'))
    .reduce((n, [, v]) => n + v, 0);
  const session = a.summaries['vusers.session_length'] || {};
  return {
    sent: c['socketio.emit'] || 0,
    acks: rt.count || 0,
    errors,
    failedVus: c['vusers.failed'] || 0,
    p50: rt.p50,
    p99: rt.p99,
    sessionMeanMs: session.mean,
  };
}

const artBase = times(m.artillery_baseline);
const artMain = times(m.artillery);
const wsMain = times(m.wsbench);
const art = artilleryCounts(JSON.parse(read('artillery-report.json')));
const artB = artilleryCounts(JSON.parse(read('artillery-baseline-report.json')));
const wsRows = csvRows(read('wsbench-run/summary.csv'));
if (wsRows.length !== 1) throw new Error(`expected one row in wsbench-run/summary.csv, got ${wsRows.length}`);
const w = wsRows[0];
const ws = {
  sent: Number(w.sent),
  acks: Number(w.delivered),
  errors: Number(w.errors) + Number(w.lost) + Number(w.connect_errors),
  inWindowCpu: Number(w.loadgen_cpu_s),
  measureS: Number(w.measure_s),
  p50: Number(w.lat_p50_us) / 1000,
  p99: Number(w.lat_p99_us) / 1000,
  p99Uncorrected: Number(w.lat_uncorrected_p99_us) / 1000,
  bound: w.loadgen_bound,
  notes: w.notes,
};

const intended = m.vus * m.rate_per_vu;
const artNetCpu = artMain.cpu - artBase.cpu;
const artNetMsgs = art.sent + art.acks - (artB.sent + artB.acks);
// Artillery's users run concurrently for one session each: the session length gives its rate.
const artRate = art.sessionMeanMs ? (m.iterations / (art.sessionMeanMs / 1000)) * m.vus : NaN;
const wsRate = ws.sent / ws.measureS;

const f = (x, d = 0) =>
  Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–';
const perCpu = (msgs, cpu) => (cpu > 0 ? msgs / cpu : NaN);

const rows = [
  {
    tool: `Artillery ${m.artillery_version} (socketio engine, socket.io-client ${m.socket_io_client_version})`,
    sent: art.sent,
    acks: art.acks,
    errors: art.errors + art.failedVus,
    rate: artRate,
    cpu: artMain.cpu,
    perCpu: perCpu(art.sent + art.acks, artMain.cpu),
    steadyCpu: artNetCpu,
    steadyPerCpu: perCpu(artNetMsgs, artNetCpu),
    p50: art.p50,
    p99: art.p99,
    wall: artMain.wall,
    serverCpu: artMain.serverCpu,
    rssKb: artMain.rssKb,
  },
  {
    tool: 'wsbench (sio transport, release build)',
    sent: ws.sent,
    acks: ws.acks,
    errors: ws.errors,
    rate: wsRate,
    cpu: wsMain.cpu,
    perCpu: perCpu(ws.sent + ws.acks, wsMain.cpu),
    steadyCpu: ws.inWindowCpu,
    steadyPerCpu: perCpu(ws.sent + ws.acks, ws.inWindowCpu),
    p50: ws.p50,
    p99: ws.p99,
    wall: wsMain.wall,
    serverCpu: wsMain.serverCpu,
    rssKb: wsMain.rssKb,
  },
];
const [a, b] = rows;

const table = [
  '| load generator | requests sent | acks received | errors | achieved req/s | CPU s, whole process | msgs per CPU-s, whole process | CPU s, steady state | msgs per CPU-s, steady state | ack latency p50 / p99 ms | peak RSS MB | server CPU s |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.tool} | ${f(r.sent)} | ${f(r.acks)} | ${f(r.errors)} | ${f(r.rate)} | ${f(r.cpu, 2)} | ${f(r.perCpu)} | ${f(r.steadyCpu, 2)} | ${f(r.steadyPerCpu)} | ${f(r.p50, 2)} / ${f(r.p99, 2)} | ${f(r.rssKb / 1024)} | ${f(r.serverCpu, 2)} |`,
  ),
];

const md = `# Load-generator efficiency: Artillery vs wsbench

Generated by \`scripts/artillery/compare.sh\` on ${m.date} (wsbench ${m.wsbench_commit}, Node ${m.node}); see docs/artillery.md.

Same server (\`${m.server}\`), same workload, one after the other: ${m.vus} Socket.IO clients
over WebSocket, each emitting \`echo\` with a ${m.payload_bytes}-byte \`data\` and an ack
callback, one request outstanding per client, paced at ${m.rate_per_vu} requests/s per client
(${f(intended)} requests/s in total) for ${m.duration_s} s. CPU: ${m.pinning}.

${table.join('\n')}

- **Messages** = Socket.IO packets through the load generator: requests sent + acks received.
  **msgs per CPU-s** = (sent + acks) / the load generator's CPU seconds (user + system).
- **Whole process**: \`/usr/bin/time\` over the whole command (start-up, connecting, the
  ${m.duration_s} s of traffic, disconnecting, writing reports); messages are all that the run sent and received.
- **Steady state**: Artillery: the whole-process run minus a 1-user, 1-request run of the same
  script (${f(artBase.cpu, 2)} CPU s, ${f(artBase.wall, 1)} s wall: Node start-up, module loading, one connection, the report).
  wsbench: its own \`loadgen_cpu_s\`, its process CPU over the ${f(ws.measureS, 1)} s measure window.
- **Latency**: Artillery's \`socketio.response_time\` (emit → ack callback, from when the emit was made);
  wsbench's \`lat_p50_us\` / \`lat_p99_us\` (request → ack from the intended send time;
  uncorrected p99 ${f(ws.p99Uncorrected, 2)} ms). Both clocks run inside the load generator, so each includes its own client overhead.
- **Achieved req/s**: Artillery: users × iterations / mean session length (it sends the next
  request ${m.think_ms} ms after the ack, so its rate falls a little short of ${f(intended)});
  wsbench: sent / measure window.

Ratio wsbench / Artillery, msgs per CPU-s: **${f(b.perCpu / a.perCpu, 1)}×** whole process,
**${f(b.steadyPerCpu / a.steadyPerCpu, 1)}×** steady state.

Load-generator utilisation (CPU s / wall s of the run): Artillery ${f(a.cpu / a.wall, 2)} of one core
over ${f(a.wall, 1)} s; wsbench ${f(b.cpu / b.wall, 2)} over ${f(b.wall, 1)} s.
wsbench's own bottleneck flag (loadgen_bound): ${ws.bound}${ws.notes ? ` (${ws.notes})` : ''}.

Raw data beside this file: \`artillery-report.json\` (Artillery's JSON report of the measured
run), \`artillery-baseline-report.json\`, \`artillery-console.txt\`, \`wsbench-run/\` (summary.csv,
.hgrm, meta.json, report.md) and \`measurements.json\` (the /usr/bin/time and /proc figures).
`;

writeFileSync(join(dir, 'summary.md'), md);
process.stdout.write(md);
