// The encoder of imgpipe's avif_enc_simd.wasm: libheif's AVIF writer over libaom (built with
// WebAssembly SIMD), behind the entry point and options of jSquash's avif_enc (@jsquash/avif
// codec/enc/avif_enc.cpp), so that the same JavaScript drives either module.
//
// jSquash builds on libavif; libavif's sources cannot be fetched where this is built, libheif's
// can (Debian), and libheif is what sharp/libvips write AVIF with. The options keep jSquash's
// meaning: quality 0-100 maps to aom's cq-level as libavif maps it (((100 - q) * 63 + 50) / 100,
// the same formula in both libraries), speed is aom's cpu-used, tune 0 (auto) is SSIM from
// quality 50 up, BT.601 full-range YCbCr, lossless is quality 100 at 4:4:4 with the identity matrix,
// and an alpha plane is written only when some pixel is not opaque (as libavif does).
// Differences, reported as errors rather than ignored: 4:0:0 (subsample 0) and sharp YUV.
#ifndef IMGPIPE_AVIF_ENCODE_H_
#define IMGPIPE_AVIF_ENCODE_H_

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "libheif/heif.h"

struct AvifOptions {
  int quality;       // 0-100, 100 = lossless
  int qualityAlpha;  // -1 = as quality
  int tileRowsLog2;  // 0-6
  int tileColsLog2;  // 0-6
  int speed;         // 0 (slowest) - 10 (fastest); aom's cpu-used, at most 9
  int subsample;     // 0 = 4:0:0, 1 = 4:2:0, 2 = 4:2:2, 3 = 4:4:4
  bool chromaDeltaQ;
  int sharpness;  // 0-7
  int tune;       // 0 = auto, 1 = PSNR, 2 = SSIM
  int denoiseLevel;
  bool enableSharpYUV;
  int bitDepth;  // 8, 10 or 12
  int threads;   // aom threads; 1 in the single-threaded build
};

namespace avif_encode_detail {

struct Writer {
  std::vector<uint8_t> bytes;
};

heif_error writeToVector(heif_context*, const void* data, size_t size, void* userdata) {
  auto* writer = static_cast<Writer*>(userdata);
  const auto* begin = static_cast<const uint8_t*>(data);
  writer->bytes.insert(writer->bytes.end(), begin, begin + size);
  return heif_error{heif_error_Ok, heif_suberror_Unspecified, "ok"};
}

bool failed(const heif_error& error, const char* step) {
  if (error.code == heif_error_Ok) return false;
  std::fprintf(stderr, "AVIF encoder: %s: %s\n", step, error.message);
  return true;
}

bool refuse(const char* message) {
  std::fprintf(stderr, "AVIF encoder: %s\n", message);
  return true;
}

}  // namespace avif_encode_detail
using namespace avif_encode_detail;

inline bool encodeAvif(const std::string& buffer, int width, int height, const AvifOptions& options,
                       std::vector<uint8_t>& output) {
  const int depth = options.bitDepth;
  const size_t sampleBytes = depth > 8 ? 2 : 1;
  if ((depth != 8 && depth != 10 && depth != 12) ||
      (options.subsample == 0 && refuse("4:0:0 (subsample 0) is not supported by this build")) ||
      (options.enableSharpYUV && refuse("sharp YUV is not supported by this build")) ||
      width <= 0 || height <= 0 || buffer.size() != size_t(width) * height * 4 * sampleBytes)
    return false;

  const char* chroma = options.subsample == 2 ? "422" : options.subsample == 3 ? "444" : "420";
  const int alphaQuality = options.qualityAlpha == -1 ? options.quality : options.qualityAlpha;
  const bool lossless = options.quality == 100 && alphaQuality == 100 && options.subsample == 3;

  // libavif writes an alpha plane only when some pixel is not opaque.
  bool opaque = true;
  for (size_t i = 0; i < size_t(width) * height && opaque; i++) {
    if (sampleBytes == 1)
      opaque = uint8_t(buffer[i * 4 + 3]) == 255;
    else
      opaque = (uint8_t(buffer[i * 8 + 6]) | uint8_t(buffer[i * 8 + 7]) << 8) == (1 << depth) - 1;
  }
  heif_chroma layout = depth == 8 ? (opaque ? heif_chroma_interleaved_RGB : heif_chroma_interleaved_RGBA)
                                  : (opaque ? heif_chroma_interleaved_RRGGBB_LE : heif_chroma_interleaved_RRGGBBAA_LE);
  const int channels = opaque ? 3 : 4;

  std::unique_ptr<heif_context, decltype(&heif_context_free)> context(heif_context_alloc(), heif_context_free);
  heif_image* rawImage = nullptr;
  if (failed(heif_image_create(width, height, heif_colorspace_RGB, layout, &rawImage), "image")) return false;
  std::unique_ptr<heif_image, decltype(&heif_image_release)> image(rawImage, heif_image_release);
  if (failed(heif_image_add_plane(image.get(), heif_channel_interleaved, width, height, depth), "plane"))
    return false;
  int stride = 0;
  uint8_t* plane = heif_image_get_plane(image.get(), heif_channel_interleaved, &stride);
  for (int y = 0; y < height; y++) {
    const uint8_t* in = reinterpret_cast<const uint8_t*>(buffer.data()) + size_t(y) * width * 4 * sampleBytes;
    uint8_t* out = plane + size_t(y) * stride;
    if (channels == 4) {
      std::memcpy(out, in, size_t(width) * 4 * sampleBytes);
    } else {
      for (int x = 0; x < width; x++)
        std::memcpy(out + size_t(x) * 3 * sampleBytes, in + size_t(x) * 4 * sampleBytes, 3 * sampleBytes);
    }
  }

  // BT.601 full range, primaries and transfer unspecified: what jSquash's libavif encoder writes.
  // Lossless uses the identity matrix (RGB stored as GBR), as there.
  heif_color_profile_nclx* nclx = heif_nclx_color_profile_alloc();
  std::unique_ptr<heif_color_profile_nclx, decltype(&heif_nclx_color_profile_free)> nclxOwner(
      nclx, heif_nclx_color_profile_free);
  nclx->color_primaries = heif_color_primaries_unspecified;
  nclx->transfer_characteristics = heif_transfer_characteristic_unspecified;
  nclx->matrix_coefficients =
      lossless ? heif_matrix_coefficients_RGB_GBR : heif_matrix_coefficients_ITU_R_BT_601_6;
  nclx->full_range_flag = 1;
  // libheif 1.15 converts RGB to YCbCr with, and writes the colr box from, the image's own profile
  // (heif_encoding_options.output_nclx_profile is not used for AV1).
  if (failed(heif_image_set_nclx_color_profile(image.get(), nclx), "colour profile")) return false;

  heif_encoder* rawEncoder = nullptr;
  if (failed(heif_context_get_encoder_for_format(context.get(), heif_compression_AV1, &rawEncoder), "encoder"))
    return false;
  std::unique_ptr<heif_encoder, decltype(&heif_encoder_release)> encoder(rawEncoder, heif_encoder_release);
  heif_encoder* e = encoder.get();
  const int speed = options.speed < 0 ? 0 : options.speed > 9 ? 9 : options.speed;
  const std::string tileRows = std::to_string(options.tileRowsLog2);
  const std::string tileCols = std::to_string(options.tileColsLog2);
  if (failed(heif_encoder_set_parameter_integer(e, "speed", speed), "speed") ||
      failed(heif_encoder_set_parameter_integer(e, "threads", options.threads < 1 ? 1 : options.threads),
             "threads") ||
      failed(heif_encoder_set_parameter_string(e, "chroma", chroma), "chroma") ||
      failed(heif_encoder_set_parameter_string(e, "aom:tile-rows", tileRows.c_str()), "tile rows") ||
      failed(heif_encoder_set_parameter_string(e, "aom:tile-columns", tileCols.c_str()), "tile columns"))
    return false;
  if (lossless) {
    if (failed(heif_encoder_set_lossless(e, 1), "lossless")) return false;
  } else {
    const std::string sharpness = std::to_string(options.sharpness);
    const std::string denoise = std::to_string(options.denoiseLevel);
    if (failed(heif_encoder_set_lossy_quality(e, options.quality), "quality") ||
        failed(heif_encoder_set_parameter_integer(e, "alpha-quality", alphaQuality), "alpha quality") ||
        failed(heif_encoder_set_parameter_string(e, "aom:sharpness", sharpness.c_str()), "sharpness") ||
        failed(heif_encoder_set_parameter_string(e, "aom:denoise-noise-level", denoise.c_str()), "denoise"))
      return false;
    const bool ssim = options.tune == 2 || (options.tune == 0 && options.quality >= 50);
    if (failed(heif_encoder_set_parameter_string(e, "tune", ssim ? "ssim" : "psnr"), "tune")) return false;
    if (options.chromaDeltaQ &&
        failed(heif_encoder_set_parameter_string(e, "aom:enable-chroma-deltaq", "1"), "chroma delta q"))
      return false;
  }

  heif_encoding_options* encoding = heif_encoding_options_alloc();
  std::unique_ptr<heif_encoding_options, decltype(&heif_encoding_options_free)> encodingOwner(
      encoding, heif_encoding_options_free);
  encoding->save_alpha_channel = opaque ? 0 : 1;
  if (failed(heif_context_encode_image(context.get(), image.get(), e, encoding, nullptr), "encode"))
    return false;

  Writer writer;
  heif_writer callbacks{1, writeToVector};
  if (failed(heif_context_write(context.get(), &callbacks, &writer), "write")) return false;
  output = std::move(writer.bytes);
  return true;
}


#endif  // IMGPIPE_AVIF_ENCODE_H_
