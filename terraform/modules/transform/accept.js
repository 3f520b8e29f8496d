// imgpipe: the viewer-request CloudFront Function (JS runtime 2.0) of the transformation
// distribution (README.md, Cache key). Reduces Accept (the cache key of fmt=auto) to:
//   avif       image/avif and image/webp (every browser that decodes one)
//   avif-only  image/avif, not WebP: answered JPEG where AVIF is not allowed
//   webp       image/webp, not AVIF
//   other      anything else, and any request naming its format (not fmt=auto)
// as transform-request.ts negotiate reads them; writes the path and query in one spelling,
// checked against CONFIG (cloudfront.tf prepends it). Held to the function by
// test/unit/handlers/cloudfront-accept.test.ts, which runs this file in Node.
function handler(event) {
  var request = event.request;
  // A name parseQuery refuses (the policies would drop it): its 400, if the path is one it takes.
  var unknown = keyOf(request.uri) === undefined ? undefined : unknownName(request.querystring);
  if (unknown !== undefined) return unknownParameter(unknown);
  var canonical = canonicalQuery(request.querystring);
  // A 400 whatever Accept says: one cache entry.
  request.headers.accept = { value: canonical.refused ? 'other' : reducedAccept(request) };
  if (canonical.query !== undefined) request.querystring = canonical.query;
  request.uri = canonicalUri(request.uri);
  return request;
}

// The path in one spelling, as imgpipe sign writes it (/t/a%2Fb, /t/%61/b: /t/a/b); left as sent
// where the function refuses it.
function canonicalUri(uri) {
  var key = keyOf(uri);
  return key === undefined ? uri : '/t/' + key.split('/').map(encodeURIComponent).join('/');
}

// The key of a path keyFromPath takes, else undefined.
function keyOf(uri) {
  if (typeof uri !== 'string' || uri.indexOf('/t/') !== 0) return undefined;
  var key;
  try {
    key = uri.slice(3).split('/').map(decodeURIComponent).join('/');
  } catch (e) {
    return undefined;
  }
  var p = key.split('/');
  var bytes = encodeURIComponent(key).replace(/%[0-9A-F]{2}/g, '.').length;
  return p.indexOf('.') + p.indexOf('..') > -2 || bytes === 0 || bytes > 1024 ? undefined : key;
}

function unknownName(querystring) {
  var unknown = [];
  for (var name in querystring)
    if (Object.prototype.hasOwnProperty.call(querystring, name) && PARAMS.indexOf(name) === -1) unknown.push(name);
  return unknown.sort()[0];
}

// The function's 400 (http.ts errorResponse).
function unknownParameter(name) {
  var shown = JSON.stringify(name);
  if (shown.length > 80) shown = shown.slice(0, 77) + '...';
  var message =
    'Unknown parameter ' + shown + ' of type string: expected only ' + PARAMS.join(', ') + ' (names as written, not percent-encoded)';
  var error = { code: 'bad-request', message: message, field: name, value: name, accepted: PARAMS };
  return {
    statusCode: 400,
    statusDescription: 'Bad Request',
    headers: { 'content-type': { value: 'application/json' }, 'cache-control': { value: 'no-store' } },
    body: { encoding: 'text', data: JSON.stringify({ error: error }) },
  };
}

function reducedAccept(request) {
  if (namesItsFormat(request.querystring)) return 'other';
  var text = acceptText(request.headers.accept);
  var accepts = { avif: false, webp: false };
  if (text) {
    var parts = text.toLowerCase().split(',');
    for (var i = 0; i < parts.length; i++) {
      var params = parts[i].split(';');
      var type = params[0].trim();
      var refused = false;
      for (var j = 1; j < params.length; j++) {
        var param = params[j].trim();
        if (param.indexOf('q=') === 0 && !(Number(param.slice(2)) > 0)) refused = true;
      }
      if (refused) continue;
      if (type === 'image/avif' || type === 'avif' || type === 'avif-only') accepts.avif = true;
      if (type === 'image/webp' || type === 'webp' || type === 'avif') accepts.webp = true;
    }
  }
  return accepts.avif ? (accepts.webp ? 'avif' : 'avif-only') : accepts.webp ? 'webp' : 'other';
}

// Every Accept header sent (multiValue), joined as function URLs join them.
function acceptText(header) {
  if (!header) return '';
  var list = header.multiValue && header.multiValue.length > 0 ? header.multiValue : [header];
  var values = [];
  for (var i = 0; i < list.length; i++) if (typeof list[i].value === 'string') values.push(list[i].value);
  return values.join(',');
}

// fmt given once, not auto (values come percent-encoded; the function decodes them, + as a space,
// any case).
function namesItsFormat(querystring) {
  var fmt = querystring && querystring.fmt;
  if (!fmt || (fmt.multiValue && fmt.multiValue.length > 1) || typeof fmt.value !== 'string') return false;
  var value = fmt.value.split('+').join(' ');
  try {
    value = decodeURIComponent(value);
  } catch (e) {
    return true;
  }
  return value.toLowerCase() !== 'auto';
}

// transform-request.ts TRANSFORM_PARAMS, DPRS, fits; formats.ts names.
var PARAMS = ['w', 'h', 'fit', 'fmt', 'q', 'dpr', 'wm', 'exp', 'sig'];
var DPRS = [1, 1.5, 2, 2.5, 3];
var FITS = ['inside', 'cover', 'contain'];
var FORMAT_NAMES = { jpg: 'jpeg', jpeg: 'jpeg', webp: 'webp', avif: 'avif', png: 'png' };

// query: in one spelling (README.md, Cache key), or undefined: as sent. refused: a 400 or 403.
//  - Values decoded as the function does; not valid percent-encoding: as sent.
//  - One name given twice: `<name>=&<name>=`; two or more: as sent.
//  - Signing on: sorted, values encoded as canonicalRequest signs them (w=0640 stays).
//  - Signing off: a request the function accepts in its normal form (no leading zeros, fmt by its
//    name, dpr folded into allowed sides, no-op parameters left out); refused: as sent, so the 400
//    names the value as given. fmt=auto stays (only its answer has Vary: Accept).
function canonicalQuery(querystring) {
  if (!querystring || typeof querystring !== 'object') return {};
  var refused = { refused: true };
  var values = {};
  var names = [];
  var repeated = [];
  for (var name in querystring) {
    if (!Object.prototype.hasOwnProperty.call(querystring, name) || PARAMS.indexOf(name) === -1) continue;
    if (!CONFIG.signing && (name === 'exp' || name === 'sig')) continue;
    var entry = querystring[name];
    var list = entry.multiValue && entry.multiValue.length > 0 ? entry.multiValue : [entry];
    for (var i = 0; i < list.length; i++) {
      var value = decodeValue(list[i].value);
      if (value === undefined) return refused;
      if (i === 0) values[name] = value;
    }
    if (list.length > 1) repeated.push(name);
    else names.push(name);
  }
  if (repeated.length === 1) return { query: repeated[0] + '=&' + repeated[0] + '=', refused: true };
  if (repeated.length > 1) return refused;
  if (!CONFIG.signing) {
    values = normalForm(values);
    if (values === undefined) return refused;
    names = Object.keys(values);
  }
  names.sort();
  var parts = [];
  for (var j = 0; j < names.length; j++) parts.push(names[j] + '=' + encodeURIComponent(values[names[j]]));
  return { query: parts.join('&'), refused: CONFIG.signing ? !values.sig : values.wm === '0' };
}

function decodeValue(raw) {
  if (typeof raw !== 'string') return '';
  try {
    return decodeURIComponent(raw.split('+').join(' '));
  } catch (e) {
    return undefined;
  }
}

// parseRequest's checks, unsigned: the normal form of a request it accepts (or refuses only for
// wm=0, 403), else undefined.
function normalForm(v) {
  var out = {};
  var dpr = 1;
  if (v.dpr !== undefined) {
    dpr = /^\d(\.\d{1,2})?$/.test(v.dpr) ? Number(v.dpr) : NaN;
    if (DPRS.indexOf(dpr) === -1) return undefined;
    if (dpr !== 1) out.dpr = String(dpr);
  }
  // dpr scales the sides given, nothing else: w=320&dpr=2 is w=640 (if allowed).
  var sides = ['w', 'h'];
  var px = {};
  var fold = true;
  for (var i = 0; i < sides.length; i++) {
    var side = v[sides[i]];
    if (side === undefined) continue;
    var size = /^\d+$/.test(side) ? Number(side) : NaN;
    var p = Math.round(size * dpr);
    if (!allowed(size) || p > CONFIG.maxSize) return undefined;
    fold = fold && allowed(p);
    px[sides[i]] = String(p);
    out[sides[i]] = String(size);
  }
  if (fold) {
    delete out.dpr;
    for (var s in px) out[s] = px[s];
  }
  if (v.fit !== undefined) {
    if (FITS.indexOf(v.fit) === -1) return undefined;
    // With one side or none the function takes inside whatever fit says.
    if (v.fit !== 'inside' && v.w !== undefined && v.h !== undefined) out.fit = v.fit;
  }
  var format;
  if (v.fmt !== undefined) {
    var fmt = v.fmt.toLowerCase();
    if (fmt !== 'auto') {
      format = Object.prototype.hasOwnProperty.call(FORMAT_NAMES, fmt) ? FORMAT_NAMES[fmt] : undefined;
      if (format === undefined || CONFIG.formats.indexOf(format) === -1) return undefined;
      out.fmt = format;
    }
  }
  if (v.q !== undefined) {
    var q = /^\d{1,3}$/.test(v.q) ? Number(v.q) : NaN;
    if (!(q >= CONFIG.qualityMin && q <= CONFIG.qualityMax)) return undefined;
    // PNG is lossless: the function ignores q for it.
    if (format !== 'png') out.q = String(q);
  }
  if (v.wm !== undefined) {
    if (v.wm !== '0' && v.wm !== '1') return undefined;
    // wm=0: a 403 without a signature.
    if (v.wm === '0') out.wm = '0';
  }
  return out;
}

function allowed(size) {
  return CONFIG.sizes.length > 0 ? CONFIG.sizes.indexOf(size) !== -1 : size >= CONFIG.sizeStep && size % CONFIG.sizeStep === 0;
}
