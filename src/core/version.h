#pragma once
#define WASMGATE_VERSION "0.1.0"
