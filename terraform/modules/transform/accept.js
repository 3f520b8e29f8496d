// imgpipe: the viewer-request CloudFront Function (JavaScript runtime 2.0) of the transformation
// distribution (README.md, Cache key). It reduces Accept, which the cache key includes for
// fmt=auto, to one of four values rather than one per browser's spelling of the header:
//   avif       the client accepts image/avif and image/webp (every browser that decodes one)
//   avif-only  image/avif and not WebP (not listed, or q=0): a client of its own, which a
//              deployment without AVIF answers with JPEG, not a WebP it does not decode
//   webp       image/webp and not AVIF
//   other      anything else (JPEG), and any request naming its format (not fmt=auto)
// index.transform negotiates on these as on a full header (transform-request.ts negotiate);
// test/unit/handlers/cloudfront-accept.test.ts runs this file in Node and holds the two together.
// It also writes the query in one spelling (canonicalQuery), the cache key's other part, checked
// against CONFIG, the settings cloudfront.tf prepends:
// { signing, sizes, sizeStep, maxSize, qualityMin, qualityMax, formats }.
function handler(event) {
  var request = event.request;
  request.headers.accept = { value: reducedAccept(request) };
  var canonical = canonicalQuery(request.querystring);
  if (canonical !== undefined) request.querystring = canonical;
  request.uri = canonicalUri(request.uri);
  return request;
}

// The path (given as sent) in one spelling: the key as keyFromPath decodes it, each segment encoded
// as imgpipe sign does (/t/a%2Fb, /t/%61/b: /t/a/b). Left as sent where the function answers 400.
function canonicalUri(uri) {
  try {
    var p = uri.slice(3).split('/').map(decodeURIComponent).join('/').split('/');
    if (uri.indexOf('/t/') || p.indexOf('.') + p.indexOf('..') > -2) return uri;
    return '/t/' + p.map(encodeURIComponent).join('/');
  } catch (e) {
    return uri;
  }
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

// Every Accept header the viewer sent (CloudFront's multiValue), joined with commas as Lambda
// function URLs join a repeated header: the first alone can be `other` where the request is AVIF.
function acceptText(header) {
  if (!header) return '';
  var list = header.multiValue && header.multiValue.length > 0 ? header.multiValue : [header];
  var values = [];
  for (var i = 0; i < list.length; i++) if (typeof list[i].value === 'string') values.push(list[i].value);
  return values.join(',');
}

// fmt given once (twice is refused by the function whatever Accept says), as the viewer spelt it
// (CloudFront passes query values percent-encoded; the function decodes them, + as a space, and
// takes any case), and not auto.
function namesItsFormat(querystring) {
  var fmt = querystring && querystring.fmt;
  if (!fmt || (fmt.multiValue && fmt.multiValue.length > 1) || typeof fmt.value !== 'string') return false;
  var value = fmt.value.split('+').join(' ');
  try {
    value = decodeURIComponent(value);
  } catch (e) {
    // Not valid percent-encoding: the function answers 400 whatever Accept says.
    return true;
  }
  return value.toLowerCase() !== 'auto';
}

// The parameters of src/handlers/transform-request.ts (TRANSFORM_PARAMS, DPRS, the fits, the format
// names of src/core/formats.ts), which test/unit/handlers/cloudfront-accept.test.ts holds together.
var PARAMS = ['w', 'h', 'fit', 'fmt', 'q', 'dpr', 'wm', 'exp', 'sig'];
var DPRS = [1, 1.5, 2, 2.5, 3];
var FITS = ['inside', 'cover', 'contain'];
var FORMAT_NAMES = { jpg: 'jpeg', jpeg: 'jpeg', webp: 'webp', avif: 'avif', png: 'png' };

// The query in one spelling per request (README.md, Cache key); undefined: left as sent (the
// function answers it 400 or 403 as it always did).
//  - Only the parameters the cache policy keeps, values decoded as the function decodes them (+ as
//    a space); one not valid percent-encoding leaves the query as sent.
//  - One parameter given twice (the function's 400 names it, not its values): `<name>=&<name>=`;
//    two or more such names leave the query as sent.
//  - Signing on: sorted, each value percent-encoded, as canonicalRequest (transform-request.ts)
//    signs them: every URL that verifies is one entry, its values as signed (w=0640 stays).
//  - Signing off: only a request the function accepts is rewritten, to its normal form (numbers
//    without leading zeros, fmt by its own name, dpr folded into allowed sides, no-op parameters
//    left out). A refused value leaves the query as sent, so the 400 names it as given.
//    fmt=auto stays apart from the format it gives: only its answer has Vary: Accept.
function canonicalQuery(querystring) {
  if (!querystring || typeof querystring !== 'object') return undefined;
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
      if (value === undefined) return undefined;
      if (i === 0) values[name] = value;
    }
    if (list.length > 1) repeated.push(name);
    else names.push(name);
  }
  if (repeated.length === 1) return repeated[0] + '=&' + repeated[0] + '=';
  if (repeated.length > 1) return undefined;
  if (!CONFIG.signing) {
    values = normalForm(values);
    if (values === undefined) return undefined;
    names = Object.keys(values);
  }
  names.sort();
  var parts = [];
  for (var j = 0; j < names.length; j++) parts.push(names[j] + '=' + encodeURIComponent(values[names[j]]));
  return parts.join('&');
}

function decodeValue(raw) {
  if (typeof raw !== 'string') return '';
  try {
    return decodeURIComponent(raw.split('+').join(' '));
  } catch (e) {
    return undefined;
  }
}

// transform-request.ts parseRequest's checks, in its order, for a request without a signature:
// the normal form of a request it accepts (or answers 403 for wm=0 only), else undefined.
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
    // wm=0 is answered 403 without a signature, as before.
    if (v.wm === '0') out.wm = '0';
  }
  return out;
}

function allowed(size) {
  return CONFIG.sizes.length > 0 ? CONFIG.sizes.indexOf(size) !== -1 : size >= CONFIG.sizeStep && size % CONFIG.sizeStep === 0;
}
