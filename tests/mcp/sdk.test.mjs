// The MCP tier: the official MCP TypeScript SDK (Client + StdioClientTransport)
// drives `pyro mcp serve` as a chat host would.
//
//   node tests/mcp/sdk.test.mjs PATH/TO/pyro [guest]
//
// The host backend (PYRO_BACKEND=host, allow_host_compat) makes tool calls
// fast; with "guest" and PYRO_TEST_BUNDLE set, vm_run also boots a real
// guest. Every result's structuredContent is checked against the tool's
// outputSchema with Ajv (draft 2020-12), besides the SDK's own check.
// Last line: "mcp: N passed, N failed".
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import Ajv2020 from 'ajv/dist/2020.js';

const PYRO = process.argv[2];
const GUEST = process.argv[3] === 'guest';
if (!PYRO) {
  console.error('usage: sdk.test.mjs PATH/TO/pyro [guest]');
  process.exit(2);
}
const scratch = mkdtempSync(join(tmpdir(), 'pyro-mcp-'));
const baseEnv = {
  PATH: process.env.PATH,
  HOME: scratch,
  PYRO_STATE_DIR: join(scratch, 'state'),
  PYRO_CACHE_DIR: process.env.PYRO_TEST_CACHE_DIR || join(scratch, 'cache'),
};
let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) passed++;
  else {
    failed++;
    console.error(`FAIL ${name}${detail ? `\n  ${detail}` : ''}`);
  }
}
async function checkThrows(name, fn, want) {
  try {
    await fn();
    check(name, false, 'did not throw');
  } catch (e) {
    check(name, want(e), `threw: ${e && e.message}`);
  }
}

// JSON with object keys sorted, to compare values regardless of order.
function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
function schemaOk(tool, value) {
  const validate = ajv.compile(tool.outputSchema);
  return validate(value) ? '' : ajv.errorsText(validate.errors);
}

async function connect(args, env = {}) {
  const transport = new StdioClientTransport({
    command: PYRO,
    args: ['pyro', 'mcp', 'serve', ...args],
    env: { ...baseEnv, ...env },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr.on('data', (d) => { stderr += d; });
  const client = new Client({ name: 'pyro-mcp-test', version: '1.0.0' });
  const errors = [];
  client.onerror = (e) => errors.push(e);
  await client.connect(transport);
  return { client, transport, stderr: () => stderr, errors };
}

// The seeds' tool sets (contract.py), and what this build has of them.
const AVAILABLE = new Set(['vm_run', 'vm_list_environments', 'vm_create', 'vm_start', 'vm_exec',
  'vm_stop', 'vm_delete', 'vm_status', 'vm_network_info', 'vm_reap_expired']);
const PROFILE_TOOLS = {
  'vm-run': ['vm_run'],
  'workspace-core': ['vm_run'],
  'workspace-full': ['vm_create', 'vm_delete', 'vm_exec', 'vm_list_environments',
    'vm_network_info', 'vm_reap_expired', 'vm_run', 'vm_start', 'vm_status', 'vm_stop'],
};

function vmDirs() {
  const d = join(scratch, 'state', 'vms');
  return existsSync(d) ? readdirSync(d).filter((n) => /^[0-9a-f]{12}$/.test(n)) : [];
}

async function main() {
  // ---- handshake and tool lists per profile ----
  for (const [profile, want] of Object.entries(PROFILE_TOOLS)) {
    const s = await connect(['--profile', profile]);
    const info = s.client.getServerVersion();
    check(`${profile}: serverInfo names pyro`, info && info.name === 'pyro' && /^\d+\.\d+\.\d+/.test(info.version),
      JSON.stringify(info));
    const instr = s.client.getInstructions() || '';
    check(`${profile}: instructions under 4096 characters`, instr.length > 200 && instr.length < 4096,
      `${instr.length} characters`);
    const caps = s.client.getServerCapabilities();
    check(`${profile}: only the tools capability`, JSON.stringify(caps) === '{"tools":{"listChanged":false}}',
      JSON.stringify(caps));
    const { tools } = await s.client.listTools();
    const names = tools.map((t) => t.name).sort();
    check(`${profile}: tools are the seeds' set this build has`, JSON.stringify(names) === JSON.stringify([...want].sort()),
      JSON.stringify(names));
    for (const t of tools) {
      check(`${profile} ${t.name}: name fits mcp__pyro__ in 64`, /^[a-z0-9_]+$/.test(t.name) && `mcp__pyro__${t.name}`.length <= 64);
      check(`${profile} ${t.name}: input schema closed object`,
        t.inputSchema.type === 'object' && t.inputSchema.additionalProperties === false);
      check(`${profile} ${t.name}: output schema is an object schema`,
        t.outputSchema && t.outputSchema.type === 'object' && ajv.validateSchema(t.outputSchema));
      check(`${profile} ${t.name}: no top-level oneOf/anyOf/allOf`,
        !['oneOf', 'anyOf', 'allOf'].some((k) => k in t.inputSchema || k in t.outputSchema));
      const a = t.annotations || {};
      check(`${profile} ${t.name}: annotations`, ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint']
        .every((k) => typeof a[k] === 'boolean'));
      check(`${profile} ${t.name}: description`, typeof t.description === 'string' && t.description.length > 20);
    }
    await s.client.ping();
    check(`${profile}: no protocol errors`, s.errors.length === 0, s.errors.map(String).join('; '));
    if (profile !== 'vm-run') check(`${profile}: says which tools are missing`, /not available yet|does not have yet/.test(instr + s.stderr()));
    await s.client.close();
  }

  // A mode whose tools this build has none of is refused, with a way out.
  {
    const r = await new Promise((resolve) => {
      const p = spawn(PYRO, ['pyro', 'mcp', 'serve', '--mode', 'repro-fix'], { env: baseEnv });
      let err = '';
      p.stderr.on('data', (d) => { err += d; });
      p.on('exit', (code) => resolve({ code, err }));
      p.stdin.end();
    });
    check('mode repro-fix: refused at start', r.code === 2 && /--profile vm-run/.test(r.err), JSON.stringify(r));
  }

  // ---- tool calls on the host backend ----
  const env = { PYRO_BACKEND: 'host' };
  const s = await connect(['--profile', 'workspace-full'], env);
  const { tools } = await s.client.listTools();
  const tool = Object.fromEntries(tools.map((t) => [t.name, t]));

  const r1 = await s.client.callTool({ name: 'vm_run', arguments: { environment: 'test', command: 'echo hello; echo oops >&2; exit 3', allow_host_compat: true } });
  const sc = r1.structuredContent || {};
  check('vm_run: structured result', !r1.isError && sc.stdout === 'hello\n' && sc.stderr === 'oops\n' && sc.exit_code === 3 &&
    sc.execution_mode === 'host_compat' && sc.cleanup && sc.cleanup.deleted === true && sc.cleanup.reason === 'post_exec_cleanup',
  JSON.stringify(r1));
  check('vm_run: structuredContent matches outputSchema', schemaOk(tool.vm_run, sc) === '', schemaOk(tool.vm_run, sc));
  check('vm_run: text is the same JSON', r1.content[0].type === 'text' && canon(JSON.parse(r1.content[0].text)) === canon(sc));

  const bad = await s.client.callTool({ name: 'vm_run', arguments: { environment: 'test', command: 'true', vcpu_count: 99 } });
  check('vm_run: an out-of-range argument is an isError result', bad.isError === true && /vcpu_count/.test(bad.content[0].text), JSON.stringify(bad));
  const unknownEnv = await s.client.callTool({ name: 'vm_run', arguments: { environment: 'nope', command: 'true', allow_host_compat: true } });
  check('vm_run: an unknown environment is an isError result naming it', unknownEnv.isError === true && /nope/.test(unknownEnv.content[0].text), JSON.stringify(unknownEnv));
  const failClosed = await s.client.callTool({ name: 'vm_run', arguments: { environment: 'test', command: 'true' } });
  check('vm_run: host backend without allow_host_compat fails closed', failClosed.isError === true && /allow_host_compat/.test(failClosed.content[0].text), JSON.stringify(failClosed));
  await checkThrows('unknown tool is a -32602 protocol error', () => s.client.callTool({ name: 'nope', arguments: {} }),
    (e) => e.code === -32602);
  const extra = await s.client.callTool({ name: 'vm_status', arguments: { vm_id: 'abc', bogus: 1 } });
  check('unknown argument is an isError result naming it', extra.isError === true && /bogus/.test(extra.content[0].text), JSON.stringify(extra));

  // The lifecycle tools, one VM through all of them.
  const created = await s.client.callTool({ name: 'vm_create', arguments: { environment: 'test', allow_host_compat: true, ttl_seconds: 120 } });
  const vm = created.structuredContent || {};
  check('vm_create: state created', !created.isError && vm.state === 'created' && vm.vcpu_count === 1 && vm.mem_mib === 1024, JSON.stringify(created));
  check('vm_create: matches outputSchema', schemaOk(tool.vm_create, vm) === '', schemaOk(tool.vm_create, vm));
  const started = await s.client.callTool({ name: 'vm_start', arguments: { vm_id: vm.vm_id } });
  check('vm_start: state started', started.structuredContent && started.structuredContent.state === 'started', JSON.stringify(started));
  const status = await s.client.callTool({ name: 'vm_status', arguments: { vm_id: vm.vm_id } });
  check('vm_status: matches outputSchema', schemaOk(tool.vm_status, status.structuredContent) === '', schemaOk(tool.vm_status, status.structuredContent));
  const net = await s.client.callTool({ name: 'vm_network_info', arguments: { vm_id: vm.vm_id } });
  check('vm_network_info: no network', net.structuredContent && net.structuredContent.network_enabled === false &&
    schemaOk(tool.vm_network_info, net.structuredContent) === '', JSON.stringify(net));
  const exec = await s.client.callTool({ name: 'vm_exec', arguments: { vm_id: vm.vm_id, command: 'echo from-exec' } });
  check('vm_exec: output, then the VM is deleted', exec.structuredContent && exec.structuredContent.stdout === 'from-exec\n' &&
    exec.structuredContent.cleanup.deleted === true && vmDirs().length === 0, JSON.stringify(exec));
  const gone = await s.client.callTool({ name: 'vm_status', arguments: { vm_id: vm.vm_id } });
  check('vm_status after exec: does not exist', gone.isError === true && /does not exist/.test(gone.content[0].text), JSON.stringify(gone));
  const v2 = (await s.client.callTool({ name: 'vm_create', arguments: { environment: 'test', allow_host_compat: true } })).structuredContent;
  const stopped = await s.client.callTool({ name: 'vm_stop', arguments: { vm_id: v2.vm_id } });
  check('vm_stop: state stopped', stopped.structuredContent && stopped.structuredContent.state === 'stopped', JSON.stringify(stopped));
  const deleted = await s.client.callTool({ name: 'vm_delete', arguments: { vm_id: v2.vm_id } });
  check('vm_delete: deleted, explicit_delete', deleted.structuredContent && deleted.structuredContent.deleted === true &&
    deleted.structuredContent.reason === 'explicit_delete' && schemaOk(tool.vm_delete, deleted.structuredContent) === '', JSON.stringify(deleted));
  const reaped = await s.client.callTool({ name: 'vm_reap_expired', arguments: {} });
  check('vm_reap_expired: matches outputSchema', schemaOk(tool.vm_reap_expired, reaped.structuredContent) === '', JSON.stringify(reaped));
  const envs = await s.client.callTool({ name: 'vm_list_environments', arguments: {} });
  check('vm_list_environments: the catalog', envs.structuredContent && envs.structuredContent.environments.some((e) => e.name === 'debian:12') &&
    schemaOk(tool.vm_list_environments, envs.structuredContent) === '', JSON.stringify(envs).slice(0, 300));

  // ---- concurrency: a long call does not block ping or tools/list ----
  const slow = s.client.callTool({ name: 'vm_run', arguments: { environment: 'test', command: 'sleep 3; echo slept', allow_host_compat: true } },
    undefined, { timeout: 30000 });
  const t0 = Date.now();
  await s.client.ping();
  await s.client.listTools();
  const quick = Date.now() - t0;
  check('ping and tools/list answer while a call runs', quick < 2000, `${quick} ms`);
  const slowResult = await slow;
  check('the long call still completes', slowResult.structuredContent && slowResult.structuredContent.stdout === 'slept\n', JSON.stringify(slowResult));

  // ---- progress: strictly increasing, only with a token ----
  const progress = [];
  await s.client.callTool({ name: 'vm_run', arguments: { environment: 'test', command: 'sleep 6', allow_host_compat: true } },
    undefined, { timeout: 30000, onprogress: (p) => progress.push(p.progress) });
  // (The SDK drops notifications that share a read with the answer, so
  // only their order is checked, not their number.)
  check('progress: at least one notification, strictly increasing', progress.length >= 1 &&
    progress.every((v, i) => i === 0 || v > progress[i - 1]), JSON.stringify(progress));

  // ---- cancellation: the command dies, the VM goes, no answer ----
  const ac = new AbortController();
  const cancelled = s.client.callTool({ name: 'vm_run', arguments: { environment: 'test', command: 'sleep 60', allow_host_compat: true, timeout_seconds: 120 } },
    undefined, { signal: ac.signal, timeout: 120000 });
  await new Promise((r) => setTimeout(r, 1000));
  const during = vmDirs().length;
  ac.abort('test cancels');
  await checkThrows('cancel: the call is rejected locally', () => cancelled, () => true);
  let after = -1;
  for (let i = 0; i < 50; i++) {
    after = vmDirs().length;
    if (after === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  check('cancel: the VM existed and is gone', during === 1 && after === 0, `during ${during}, after ${after}`);
  await s.client.ping();
  check('cancel: the server goes on', true);
  check('host calls: no protocol errors', s.errors.length === 0, s.errors.map(String).join('; '));
  await s.client.close();

  // ---- a guest: vm_run boots a real microVM ----
  if (GUEST && process.env.PYRO_TEST_BUNDLE) {
    const imp = spawnSync(PYRO, ['env', 'import', process.env.PYRO_TEST_BUNDLE], { env: baseEnv, encoding: 'utf8' });
    check('guest: the test environment imports', imp.status === 0, imp.stderr);
    // TCG unless told otherwise: the CI hosts' KVM does not work (docs/vms.md).
    const genv = { PYRO_ACCEL: process.env.PYRO_ACCEL || 'tcg' };
    const g = await connect(['--profile', 'vm-run'], genv);
    const { tools: gt } = await g.client.listTools();
    const r = await g.client.callTool({ name: 'vm_run', arguments: { environment: 'test', command: 'uname -s; cat /proc/cmdline' } },
      undefined, { timeout: 120000 });
    const gsc = r.structuredContent || {};
    check('guest vm_run: runs in the guest', !r.isError && /^Linux\n/.test(gsc.stdout) && /pyro\.agent=/.test(gsc.stdout) &&
      gsc.execution_mode === 'guest_vsock', JSON.stringify(r).slice(0, 500));
    check('guest vm_run: matches outputSchema', schemaOk(gt[0], gsc) === '', schemaOk(gt[0], gsc));
    const gac = new AbortController();
    const gc = g.client.callTool({ name: 'vm_run', arguments: { environment: 'test', command: 'sleep 60', timeout_seconds: 120 } },
      undefined, { signal: gac.signal, timeout: 120000 });
    for (let i = 0; i < 600 && vmDirs().length === 0; i++) await new Promise((res) => setTimeout(res, 50));
    await new Promise((res) => setTimeout(res, 1500));
    gac.abort('test cancels');
    await checkThrows('guest cancel: rejected locally', () => gc, () => true);
    let left = -1;
    for (let i = 0; i < 100; i++) {
      left = vmDirs().length;
      if (left === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    check('guest cancel: the VM is gone', left === 0, `${left} VM dirs left`);
    await g.client.close();
  }
}

try {
  await main();
} catch (e) {
  failed++;
  console.error(`FAIL unexpected: ${e && e.stack}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`mcp: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
