// Serves one Worker the way `wrangler dev` does (wrangler's dev server, ProxyWorker and workerd), through wrangler's
// programmatic API so that the DevTools inspector can be left detached. `wrangler dev` always attaches one: every
// console line is then serialised to it and every fetch reported, which no deployed Worker pays. The worker's console
// lines are written out as they are: wrangler would source-map each one and filter it by its own log level, about 1 ms
// of this process's CPU per line, a local cost a deployed Worker's log pipeline does not put on the machine serving it.
// Usage: node scripts/lib/serve-worker.mjs '<json>' with {config, port, envFile?, persistTo, inspectorPort?, noBundle?}.
import { unstable_startWorker } from 'wrangler';

const o = JSON.parse(process.argv[2] ?? '{}');
const worker = await unstable_startWorker({
  config: o.config,
  ...(o.envFile ? { envFiles: [o.envFile] } : {}),
  build: o.noBundle ? { bundle: false } : {},
  dev: {
    server: { hostname: '127.0.0.1', port: o.port },
    inspector: o.inspectorPort ? { hostname: '127.0.0.1', port: o.inspectorPort } : false,
    persist: o.persistTo,
    logLevel: 'warn',
    watch: false,
    structuredLogsHandler: ({ level, message }) => (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${message}\n`),
  },
});
await worker.ready;
console.log(`[serve-worker] ready on ${await worker.url}`);
const stop = async () => {
  await worker.dispose().catch(() => {});
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
