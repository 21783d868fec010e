// RegisterBuiltinForecasters: the explicit list.
#include "predict/builtin_forecasters.h"

namespace devshare::predict {

void RegisterBuiltinForecasters(ForecasterRegistry& registry) {
  (void)registry.Register("last", MakeLastValue);
}

}  // namespace devshare::predict
