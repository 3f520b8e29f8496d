// The entry point of avif_enc_simd.wasm: jSquash's avif_enc API (encode(bytes, width, height,
// options) -> Uint8Array or null) over encodeAvif() in avif_encode.h. The reason for a null goes to
// stderr (the module's printErr).
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include "avif_encode.h"

using namespace emscripten;

val encode(std::string buffer, int width, int height, AvifOptions options) {
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
