// Times encodeAvif() (scripts/codecs/avif-simd/avif_encode.h, the code inside avif_enc_simd.wasm)
// compiled natively against the system's libheif and libaom, for the AVIF row of `npm run bench`:
// on Debian bookworm those are libheif 1.15.1 and libaom 3.6.0 built with their x86 assembly and
// AVX2, the same versions the WebAssembly module is built from.
//
// Usage: avif-encode <rgba file> <width> <height> <quality> <speed> <subsample> <runs> <out.avif> [threads]
// Prints the CPU milliseconds (all threads) and the wall milliseconds of each run, one run a line;
// writes the last run's AVIF. threads: aom's thread count, 1 when omitted.
#include <time.h>

#include <fstream>
#include <iostream>
#include <iterator>

#include "../../scripts/codecs/avif-simd/avif_encode.h"

static double clockMs(clockid_t clock) {
  timespec now{};
  clock_gettime(clock, &now);
  return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

int main(int argc, char** argv) {
  if (argc != 9 && argc != 10) {
    std::cerr << "Usage: avif-encode <rgba file> <width> <height> <quality> <speed> <subsample> <runs> <out.avif> [threads]\n";
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
  options.threads = argc == 10 ? std::stoi(argv[9]) : 1;
  std::vector<uint8_t> output;
  for (int run = 0; run < std::stoi(argv[7]); run++) {
    const double cpu = clockMs(CLOCK_PROCESS_CPUTIME_ID), wall = clockMs(CLOCK_MONOTONIC);
    if (!encodeAvif(rgba, std::stoi(argv[2]), std::stoi(argv[3]), options, output)) return 1;
    std::cout << clockMs(CLOCK_PROCESS_CPUTIME_ID) - cpu << " " << clockMs(CLOCK_MONOTONIC) - wall << "\n";
  }
  std::ofstream(argv[8], std::ios::binary).write(reinterpret_cast<const char*>(output.data()), output.size());
  return 0;
}
