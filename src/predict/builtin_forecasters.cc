// RegisterBuiltinForecasters: the explicit list.
#include "predict/builtin_forecasters.h"

namespace devshare::predict {

void RegisterBuiltinForecasters(ForecasterRegistry& registry) {
  (void)registry.Register("last", MakeLastValue);
  (void)registry.Register("ewma", MakeEwma);
  (void)registry.Register("autopilot", MakeAutopilot);
  (void)registry.Register("holt_winters", MakeHoltWinters);
  (void)registry.Register("qgb", MakeQgb);
}

}  // namespace devshare::predict
