// A local HTTP server for the loading tests: serves files from memory or disk with Range (206) and ETag/If-Range
// support and CORS, logs every request, and injects faults: a connection dropped after N bytes of a file, a status
// answered for a file, or a file changed upstream (touch). Node tests start it directly; the Chromium project starts one in globalSetup
// (test/helpers/model-server-setup.ts) and the page steers it through POST /__control and GET /__log.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Fault {
  /** Path under the server's root, e.g. 'gqa/model.safetensors'. */
  path: string;
  /** Drop the connection after this many bytes of the body (then the fault is spent). */
  dropAfter?: number;
  /** Answer this status instead (every time while the fault stands). */
  status?: number;
  /** How many requests it hits, default 1. */
  times?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  range: string | null;
  status: number;
}

export interface ModelServer {
  url: string;
  /** Adds the files of a directory on disk under `prefix/`. */
  addDir(prefix: string, dir: string): void;
  addFile(path: string, bytes: Uint8Array): void;
  faults: Fault[];
  log: LoggedRequest[];
  close(): Promise<void>;
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'Range, If-Range, Authorization, Content-Type',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range, ETag, Accept-Ranges',
};

export async function startModelServer(): Promise<ModelServer> {
  const files = new Map<string, Uint8Array>();
  const state: Pick<ModelServer, 'faults' | 'log'> = { faults: [], log: [] };
  const server: Server = createServer((req, res) => handle(req, res));

  function handle(req: IncomingMessage, res: ServerResponse) {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]).replace(/^\/+/, '');
    if (req.method === 'OPTIONS') return void res.writeHead(204, CORS).end();
    if (path === '__control') return control(req, res);
    if (path === '__log') return void res.writeHead(200, { ...CORS, 'Content-Type': 'application/json' }).end(JSON.stringify(state.log));
    const range = req.headers.range ?? null;
    const fault = state.faults.find((f) => f.path === path && (f.times ?? 1) > 0);
    const answer = (status: number) => state.log.push({ method: req.method ?? 'GET', path, range, status });
    if (fault?.status) {
      fault.times = (fault.times ?? 1) - 1;
      answer(fault.status);
      return void res.writeHead(fault.status, CORS).end('injected');
    }
    const bytes = files.get(path);
    if (!bytes) {
      answer(404);
      return void res.writeHead(404, CORS).end('not found');
    }
    const etag = `"${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}"`;
    let start = 0;
    let status = 200;
    const m = range && /^bytes=(\d+)-$/.exec(range);
    const ifRange = req.headers['if-range'];
    if (m && (!ifRange || ifRange === etag)) {
      start = Number(m[1]);
      status = 206;
    }
    const body = bytes.subarray(start);
    const headers: Record<string, string> = { ...CORS, 'Content-Length': String(body.byteLength), ETag: etag, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${bytes.byteLength - 1}/${bytes.byteLength}`;
    answer(status);
    res.writeHead(status, headers);
    if (fault?.dropAfter !== undefined) {
      fault.times = (fault.times ?? 1) - 1;
      res.write(body.subarray(0, fault.dropAfter), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  }

  function control(req: IncomingMessage, res: ServerResponse) {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      const c = JSON.parse(text || '{}') as { faults?: Fault[]; clearLog?: boolean; touch?: string[] };
      if (c.faults) state.faults = c.faults;
      // A new version of these files upstream (JSON stays valid): their ETags change.
      for (const path of c.touch ?? []) files.set(path, Uint8Array.from([...files.get(path)!, 0x0a]));
      if (c.clearLog) state.log = [];
      res.writeHead(200, CORS).end('{}');
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    addDir(prefix, dir) {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isFile()) files.set(`${prefix}/${e.name}`, new Uint8Array(readFileSync(`${dir}/${e.name}`)));
    },
    addFile(path, bytes) {
      files.set(path, bytes);
    },
    get faults() {
      return state.faults;
    },
    set faults(f) {
      state.faults = f;
    },
    get log() {
      return state.log;
    },
    set log(l) {
      state.log = l;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
