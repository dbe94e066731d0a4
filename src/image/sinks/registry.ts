import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { environmentError, SlimError, usageError } from '../../errors.js';
import { sha256Digest } from '../digest.js';
import { manifestOf, OCI_MANIFEST } from '../image-writer.js';
import type { Image } from '../types.js';

export interface RegistryTarget {
  host: string;
  repository: string;
  tag: string;
}

/** `HOST[:PORT]/REPO[:TAG]`: the host part is required (a name with a dot or a port, or localhost). */
export function parseRegistryTarget(text: string): RegistryTarget {
  const slash = text.indexOf('/');
  const host = slash > 0 ? text.slice(0, slash) : '';
  if (!host || !(host.includes('.') || host.includes(':') || host === 'localhost')) {
    throw usageError(`registry:${text}: name the registry host, e.g. registry:127.0.0.1:5000/team/app:v1`);
  }
  const rest = text.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  const [repository, tag] = colon > 0 ? [rest.slice(0, colon), rest.slice(colon + 1)] : [rest, 'latest'];
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)) {
    throw usageError(`registry:${text}: ${repository} is not a valid repository name (lowercase letters, digits, . _ - and /)`);
  }
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) throw usageError(`registry:${text}: ${tag} is not a valid tag`);
  return { host, repository, tag };
}

interface Credentials {
  username: string;
  password: string;
}

/** Credentials for a registry from where container tools keep them: REGISTRY_AUTH_FILE, $DOCKER_CONFIG, ~/.docker. */
export async function registryCredentials(host: string): Promise<Credentials | undefined> {
  const files = [process.env.REGISTRY_AUTH_FILE, join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json')].filter((f): f is string => Boolean(f));
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (!text) continue;
    let auths: Record<string, { auth?: string; username?: string; password?: string }> = {};
    try {
      auths = (JSON.parse(text) as { auths?: typeof auths }).auths ?? {};
    } catch {
      continue;
    }
    for (const key of [host, `https://${host}`, `http://${host}`, `https://${host}/v1/`, `https://${host}/v2/`]) {
      const entry = auths[key];
      if (entry?.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
      }
      if (entry?.username && entry.password) return { username: entry.username, password: entry.password };
    }
  }
  return undefined;
}

interface Response {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNRESET']);

/** A registry session: the scheme that works, and the authorization it was granted. */
class RegistryClient {
  private scheme: 'https' | 'http' = 'https';
  private authorization: string | undefined;

  constructor(
    private readonly host: string,
    private readonly repository: string,
    private readonly tlsVerify: boolean,
    private readonly credentials: Credentials | undefined,
  ) {}

  private send(method: string, url: string, headers: Record<string, string | number>, body?: Buffer | (() => Readable)): Promise<Response> {
    return new Promise((resolve, reject) => {
      const target = new URL(url);
      const options = { method, headers: { ...headers, ...(this.authorization ? { Authorization: this.authorization } : {}) }, rejectUnauthorized: this.tlsVerify, timeout: 60_000 };
      const req = (target.protocol === 'http:' ? httpRequest : httpsRequest)(target, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        const stream = body();
        stream.on('error', (err) => req.destroy(err));
        stream.pipe(req);
      }
    });
  }

  /** Sends a request, switching to plain HTTP (only without TLS verification) and answering an auth challenge once. */
  async call(method: string, path: string, headers: Record<string, string | number> = {}, body?: Buffer | (() => Readable)): Promise<Response> {
    const url = path.startsWith('http') ? path : `${this.scheme}://${this.host}${path}`;
    let response: Response;
    try {
      response = await this.send(method, url, headers, body);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const tlsMismatch = code === 'EPROTO' || /wrong version number|ssl3_get_record|packet length too long/i.test((err as Error).message);
      if (tlsMismatch && !this.tlsVerify && this.scheme === 'https' && !path.startsWith('http')) {
        this.scheme = 'http';
        return this.call(method, path, headers, body);
      }
      if (tlsMismatch) throw new SlimError(`${this.host} does not speak HTTPS`, 1, 'for a local plain-HTTP registry pass --tls-verify=false');
      if (UNREACHABLE.has(code)) throw environmentError(`cannot reach the registry ${this.host}: ${code}`, 'check the address, and that the registry runs');
      throw new SlimError(`the registry ${this.host}: ${(err as Error).message}`);
    }
    if (response.status === 401 && !this.authorization) {
      const challenge = String(response.headers['www-authenticate'] ?? '');
      if (await this.authorize(challenge)) return this.call(method, path, headers, body);
    }
    return response;
  }

  private async authorize(challenge: string): Promise<boolean> {
    const basic = this.credentials ? `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}` : undefined;
    if (/^basic/i.test(challenge)) {
      if (!basic) return false;
      this.authorization = basic;
      return true;
    }
    const bearer = /^bearer\s+(.*)$/i.exec(challenge);
    if (!bearer) return false;
    const params = Object.fromEntries([...bearer[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    if (!params.realm) return false;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', `repository:${this.repository}:pull,push`);
    const saved = this.authorization;
    this.authorization = basic;
    const token = await this.send('GET', url.toString(), {}).catch(() => undefined);
    this.authorization = saved;
    if (!token || token.status !== 200) return false;
    const granted = JSON.parse(token.body.toString()) as { token?: string; access_token?: string };
    const value = granted.token ?? granted.access_token;
    if (!value) return false;
    this.authorization = `Bearer ${value}`;
    return true;
  }
}

function refused(target: RegistryTarget, what: string, response: Response): SlimError {
  const text = response.body.toString('utf8').trim().slice(0, 400) || '(no body)';
  const hint = response.status === 401 || response.status === 403 ? `log in first (docker login ${target.host}), or set REGISTRY_AUTH_FILE` : undefined;
  return new SlimError(`the registry ${target.host} refused ${what}: ${response.status} ${text}`, 1, hint);
}

/**
 * Pushes an image straight to a registry, as crane or skopeo would: each blob unless the registry has it
 * (HEAD), in one monolithic upload, then the manifest under the tag. The tag is written last, so a
 * failed push leaves no partial tag.
 */
export async function pushImage(image: Image, target: RegistryTarget, options: { tlsVerify: boolean }): Promise<{ reference: string; manifestDigest: string }> {
  const client = new RegistryClient(target.host, target.repository, options.tlsVerify, await registryCredentials(target.host));
  const base = `/v2/${target.repository}`;
  const check = await client.call('GET', '/v2/');
  if (check.status >= 400 && check.status !== 401) throw refused(target, 'GET /v2/', check);
  const blobs: Array<{ digest: string; size: number; body: Buffer | (() => Readable) }> = [
    { digest: sha256Digest(image.rawConfig), size: image.rawConfig.length, body: image.rawConfig },
    ...image.layers.map((l) => ({ digest: l.digest ?? l.diffId, size: l.storedSize, body: () => l.openBlob() })),
  ];
  for (const blob of blobs) {
    const head = await client.call('HEAD', `${base}/blobs/${blob.digest}`);
    if (head.status === 200) continue;
    const started = await client.call('POST', `${base}/blobs/uploads/`, { 'Content-Length': 0 });
    if (started.status !== 202 || !started.headers.location) throw refused(target, `an upload of ${blob.digest}`, started);
    const location = new URL(String(started.headers.location), `http://${target.host}`);
    location.searchParams.set('digest', blob.digest);
    const url = String(started.headers.location).startsWith('http') ? location.toString() : `${location.pathname}${location.search}`;
    const put = await client.call('PUT', url, { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.size }, blob.body);
    if (put.status !== 201) throw refused(target, `blob ${blob.digest}`, put);
  }
  const manifest = manifestOf(image);
  const put = await client.call('PUT', `${base}/manifests/${target.tag}`, { 'Content-Type': OCI_MANIFEST, 'Content-Length': manifest.bytes.length }, manifest.bytes);
  if (put.status !== 201) throw refused(target, `the manifest for ${target.repository}:${target.tag}`, put);
  return { reference: `${target.host}/${target.repository}:${target.tag}`, manifestDigest: manifest.digest };
}
