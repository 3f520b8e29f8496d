import { networkInterfaces } from 'node:os';

/** A listen address that stands for every address of the machine: no URL can name it. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/**
 * The URL a local server listening on `host` is reached at, printed and used by its clients: an
 * IPv6 address in brackets (http://::1:4568 is no URL), and `localhost` for a wildcard address
 * (--host 0.0.0.0), as vite and webpack-dev-server print it: http://0.0.0.0:4570 is nowhere a
 * browser should go, and the web page's sign-in, whose redirect must come back to the page's own
 * origin, failed from it.
 */
export function localUrl(host: string, port: number): string {
  if (isWildcardHost(host)) return `http://localhost:${port}`;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The other URLs a wildcard listen address serves `url`'s port on, for people on the network: each
 * external address of this machine (IPv4 first, as vite prints them). None for any other address.
 */
export function networkUrls(host: string, port: number): string[] {
  if (!isWildcardHost(host)) return [];
  const addresses = Object.values(networkInterfaces())
    .flat()
    .filter((address) => address !== undefined && !address.internal)
    .filter((address) => host !== '0.0.0.0' || address!.family === 'IPv4')
    // Link-local IPv6 addresses need a zone (%eth0) that a browser does not take.
    .filter((address) => !address!.address.toLowerCase().startsWith('fe80:'))
    .sort((a, b) => (a!.family === b!.family ? 0 : a!.family === 'IPv4' ? -1 : 1));
  return addresses.map((address) => localUrl(address!.address, port));
}

/**
 * Every origin a browser may reach a server listening on `host` at: its URL's, 127.0.0.1's and
 * localhost's for either, and with a wildcard address the loopback ones and each external
 * address's. The page's origins for the source bucket's CORS rule, and the sign-in redirects the
 * local issuer takes.
 */
export function localOrigins(host: string, port: number): string[] {
  const origin = new URL(localUrl(host, port)).origin;
  const loopback = [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
  const aliases = isWildcardHost(host)
    ? [...loopback, ...(host === '0.0.0.0' ? [] : [`http://[::1]:${port}`])]
    : loopback.includes(origin)
      ? loopback
      : [];
  return [origin, ...aliases, ...networkUrls(host, port)]
    .map((url) => new URL(url).origin)
    .filter((o, i, all) => all.indexOf(o) === i);
}

/**
 * The S3 endpoint that presigned URLs name for an API request that came in with this Host header:
 * with a wildcard listen address (--host 0.0.0.0, as vite is started to be reached from other
 * machines) the host the request was sent to, at the S3 server's port, when it is one of the
 * machine's origins (localOrigins: localhost, 127.0.0.1, each external address); else `endpoint`,
 * the S3 server's URL. A phone that called the API at 192.168.1.5 could not upload to localhost.
 */
export function s3EndpointFor(
  hostHeader: string | undefined,
  host: string,
  apiPort: number,
  endpoint: string,
): string {
  if (!isWildcardHost(host) || !hostHeader) return endpoint;
  const asked = `http://${hostHeader}`;
  if (!URL.canParse(asked)) return endpoint;
  const origin = new URL(asked);
  if (!localOrigins(host, apiPort).includes(origin.origin)) return endpoint;
  const s3 = new URL(endpoint);
  s3.hostname = origin.hostname;
  return s3.origin;
}
