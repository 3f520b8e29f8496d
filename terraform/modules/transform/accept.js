// imgpipe: the viewer-request CloudFront Function (JavaScript runtime 2.0) of the transformation
// distribution. It reduces Accept to one of four values, so the cache key (which includes Accept,
// for fmt=auto) is split that many ways and not once per browser's spelling of the header:
//   avif       the client accepts image/avif and image/webp (every browser that decodes one)
//   avif-only  it accepts image/avif and not WebP (not listed, or q=0): a client of its own, which
//              a deployment without AVIF answers with JPEG, not a WebP it does not decode
//   webp       it accepts image/webp and not AVIF
//   other      anything else (JPEG)
// index.transform negotiates on these tokens as it does on a full header
// (src/handlers/transform-request.ts negotiate); test/unit/handlers/cloudfront-accept.test.ts runs
// this file in Node against sample headers and holds the two together.
// A request naming its format (fmt=webp, fmt=JPG, not fmt=auto) gets `other` whatever it accepts:
// the function reads Accept only for fmt=auto, and each of the four values was a cache entry (and
// an origin request) of its own for the same bytes.
function handler(event) {
  var request = event.request;
  if (namesItsFormat(request.querystring)) {
    request.headers.accept = { value: 'other' };
    return request;
  }
  var header = request.headers.accept;
  var accepts = { avif: false, webp: false };
  if (header && header.value) {
    var parts = header.value.toLowerCase().split(',');
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
  var value = accepts.avif ? (accepts.webp ? 'avif' : 'avif-only') : accepts.webp ? 'webp' : 'other';
  request.headers.accept = { value: value };
  return request;
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
