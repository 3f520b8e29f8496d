// Times encodeAvif() (scripts/codecs/avif-simd/avif_encode.h, the code inside avif_enc_simd.wasm)
// compiled natively against the system's libheif and libaom, for the AVIF row of `npm run bench`:
// on Debian bookworm those are libheif 1.15.1 and libaom 3.6.0 built with their x86 assembly and
// AVX2, the same versions the WebAssembly module is built from.
//
// Usage: avif-encode <rgba file> <width> <height> <quality> <speed> <subsample> <runs> <out.avif>
// Prints the CPU milliseconds of each run, one a line; writes the last run's AVIF.
#include <time.h>

#include <fstream>
#include <iostream>
#include <iterator>

#include "../../scripts/codecs/avif-simd/avif_encode.h"

static double cpuMs() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

int main(int argc, char** argv) {
  if (argc != 9) {
    std::cerr << "Usage: avif-encode <rgba file> <width> <height> <quality> <speed> <subsample> <runs> <out.avif>\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  const std::string rgba((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  AvifOptions options{};
  options.quality = std::stoi(argv[4]);
  options.qualityAlpha = -1;
  options.speed = std::stoi(argv[5]);
  options.subsample = std::stoi(argv[6]);
  options.bitDepth = 8;
  options.threads = 1;
  std::vector<uint8_t> output;
  for (int run = 0; run < std::stoi(argv[7]); run++) {
    const double start = cpuMs();
    if (!encodeAvif(rgba, std::stoi(argv[2]), std::stoi(argv[3]), options, output)) return 1;
    std::cout << cpuMs() - start << "\n";
  }
  std::ofstream(argv[8], std::ios::binary).write(reinterpret_cast<const char*>(output.data()), output.size());
  return 0;
}
