// "last": the naive forecaster; the next horizon's peak is the last sample.
#include <memory>

#include "predict/builtin_forecasters.h"

namespace devshare::predict {
namespace {

class LastValue final : public Forecaster {
 public:
  std::string_view Name() const override { return "last"; }
  void Observe(int64_t, double value) override {
    last_ = value;
    ++count_;
  }
  double Predict() const override { return last_; }
  int64_t Count() const override { return count_; }

 private:
  double last_ = 0;
  int64_t count_ = 0;
};

}  // namespace

std::unique_ptr<Forecaster> MakeLastValue(const ForecastOptions&) {
  return std::make_unique<LastValue>();
}

}  // namespace devshare::predict
