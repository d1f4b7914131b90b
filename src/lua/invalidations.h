// kong.cache's cross-worker invalidations: kong.cache:invalidate(key) in
// one worker drops the key in every worker's cache. A process-wide log of
// invalidated keys with a generation number; each worker's cache compares
// the generation it has seen (one atomic load per cache call) and drops
// the keys logged since. The log keeps the last kKeep keys: a worker that
// fell further behind drops its whole cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace wg::lua {

inline constexpr size_t kKeptInvalidations = 4096;

uint64_t invalidation_generation();
void invalidate_everywhere(std::string key);
// The keys invalidated after generation `since`; false when some of them
// are no longer kept.
bool invalidations_since(uint64_t since, std::vector<std::string>* keys);

}  // namespace wg::lua
