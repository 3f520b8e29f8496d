// The entry point of avif_enc_simd.wasm: jSquash's avif_enc API (encode(bytes, width, height,
// options) -> Uint8Array or null) over encodeAvif() in avif_encode.h. The reason for a null goes to
// stderr (the module's printErr).
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include "avif_encode.h"

using namespace emscripten;

// The pixels arrive as a JavaScript Uint8Array (or ArrayBuffer) and are copied into the module's
// memory with one TypedArray.set(): embind's own std::string conversion copies them byte by byte in
// JavaScript and then once more in C++, which cost about 2% of a 1600x900 encode.
val encode(val bytes, int width, int height, AvifOptions options) {
  if (bytes.instanceof(val::global("ArrayBuffer"))) bytes = val::global("Uint8Array").new_(bytes);
  if (!bytes.instanceof(val::global("Uint8Array")) && !bytes.instanceof(val::global("Uint8ClampedArray")) &&
      refuse("the pixels must be a Uint8Array, a Uint8ClampedArray or an ArrayBuffer"))
    return val::null();
  std::string buffer(bytes["length"].as<size_t>(), '\0');
  val(typed_memory_view(buffer.size(), reinterpret_cast<uint8_t*>(buffer.data()))).call<void>("set", bytes);
  std::vector<uint8_t> output;
  if (!encodeAvif(buffer, width, height, options, output)) return val::null();
  return val::global("Uint8Array").new_(typed_memory_view(output.size(), output.data()));
}

EMSCRIPTEN_BINDINGS(avif_enc) {
  value_object<AvifOptions>("AvifOptions")
      .field("quality", &AvifOptions::quality)
      .field("qualityAlpha", &AvifOptions::qualityAlpha)
      .field("tileRowsLog2", &AvifOptions::tileRowsLog2)
      .field("tileColsLog2", &AvifOptions::tileColsLog2)
      .field("speed", &AvifOptions::speed)
      .field("chromaDeltaQ", &AvifOptions::chromaDeltaQ)
      .field("sharpness", &AvifOptions::sharpness)
      .field("tune", &AvifOptions::tune)
      .field("denoiseLevel", &AvifOptions::denoiseLevel)
      .field("subsample", &AvifOptions::subsample)
      .field("enableSharpYUV", &AvifOptions::enableSharpYUV)
      .field("bitDepth", &AvifOptions::bitDepth)
      .field("threads", &AvifOptions::threads);

  function("encode", &encode);
}
