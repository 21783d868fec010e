// Tests Status (codes, names, ToString), Result<T>, DS_ASSIGN_OR_RETURN and DS_RETURN_IF_ERROR.
#include "devshare/core/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "devshare/core/result.h"

namespace devshare {
namespace {

using ::testing::HasSubstr;

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().ToString(), "OK");
}

struct FactoryCase {
  Status status;
  StatusCode code;
  std::string name;
};

TEST(StatusTest, FactoriesSetCodeMessageAndToString) {
  const std::vector<FactoryCase> cases = {
      {Status::InvalidArgument("m"), StatusCode::kInvalidArgument, "invalid_argument"},
      {Status::NotFound("m"), StatusCode::kNotFound, "not_found"},
      {Status::AlreadyExists("m"), StatusCode::kAlreadyExists, "already_exists"},
      {Status::FailedPrecondition("m"), StatusCode::kFailedPrecondition, "failed_precondition"},
      {Status::ResourceExhausted("m"), StatusCode::kResourceExhausted, "resource_exhausted"},
      {Status::Aborted("m"), StatusCode::kAborted, "aborted"},
      {Status::Unavailable("m"), StatusCode::kUnavailable, "unavailable"},
      {Status::Unimplemented("m"), StatusCode::kUnimplemented, "unimplemented"},
      {Status::Internal("m"), StatusCode::kInternal, "internal"},
      {Status::DataLoss("m"), StatusCode::kDataLoss, "data_loss"},
  };
  for (const FactoryCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_FALSE(c.status.ok());
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_EQ(c.status.message(), "m");
    EXPECT_EQ(StatusCodeName(c.code), c.name);
    EXPECT_EQ(c.status.ToString(), c.name + ": m");
    EXPECT_EQ(c.status.IsInvalidArgument(), c.code == StatusCode::kInvalidArgument);
    EXPECT_EQ(c.status.IsNotFound(), c.code == StatusCode::kNotFound);
    EXPECT_EQ(c.status.IsAborted(), c.code == StatusCode::kAborted);
  }
}

TEST(StatusTest, CodeNamesAreDistinctAndOkIsNamed) {
  EXPECT_EQ(StatusCodeName(StatusCode::kOk), "ok");
  std::set<std::string> names;
  for (int c = static_cast<int>(StatusCode::kOk); c <= static_cast<int>(StatusCode::kDataLoss);
       ++c) {
    std::string name(StatusCodeName(static_cast<StatusCode>(c)));
    EXPECT_NE(name, "unknown") << "code " << c;
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
  }
}

TEST(StatusTest, ExplicitConstructorAndEmptyMessage) {
  Status s(StatusCode::kNotFound, "host h1");
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(s.ToString(), "not_found: host h1");
  EXPECT_EQ(Status::Internal("").ToString(), "internal: ");
}

TEST(ResultTest, HoldsValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  *r = 7;
  EXPECT_EQ(r.value(), 7);
}

TEST(ResultTest, HoldsError) {
  Result<std::string> r = Status::NotFound("no such host");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "no such host");
}

TEST(ResultTest, OkStatusBecomesInternalError) {
  Result<int> r = Status::Ok();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST(ResultTest, ArrowAndMoveOut) {
  Result<std::string> r = std::string("abc");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 3u);
  std::string moved = std::move(r).value();
  EXPECT_EQ(moved, "abc");
}

TEST(ResultTest, MoveOnlyValue) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
}

// Helpers exercising the macros. ParsePositive fails for n <= 0.
Result<int> ParsePositive(int n) {
  if (n <= 0) return Status::InvalidArgument("not positive: " + std::to_string(n));
  return n;
}

Status CheckEven(int n) {
  if (n % 2 != 0) return Status::FailedPrecondition("odd: " + std::to_string(n));
  return Status::Ok();
}

// Doubles a positive even number; each step may fail.
Result<int> DoublePositiveEven(int n, int* steps) {
  DS_ASSIGN_OR_RETURN(int v, ParsePositive(n));
  ++*steps;
  DS_RETURN_IF_ERROR(CheckEven(v));
  ++*steps;
  return v * 2;
}

// Sums two parsed values, using DS_ASSIGN_OR_RETURN twice in one scope.
Status SumInto(int a, int b, int* out) {
  DS_ASSIGN_OR_RETURN(int x, ParsePositive(a));
  DS_ASSIGN_OR_RETURN(int y, ParsePositive(b));
  *out = x + y;
  return Status::Ok();
}

// Assigns into an already-declared variable.
Status AssignExisting(int n, std::string* out) {
  std::string s;
  DS_ASSIGN_OR_RETURN(s, Result<std::string>(std::string(static_cast<size_t>(n), 'x')));
  DS_RETURN_IF_ERROR(CheckEven(n));
  *out = s;
  return Status::Ok();
}

struct MacroCase {
  int input;
  StatusCode code;
  int steps;  // how far DoublePositiveEven got
  int value;  // valid only when code == kOk
};

TEST(ResultMacroTest, AssignOrReturnAndReturnIfError) {
  const std::vector<MacroCase> cases = {
      {4, StatusCode::kOk, 2, 8},
      {10, StatusCode::kOk, 2, 20},
      {3, StatusCode::kFailedPrecondition, 1, 0},
      {0, StatusCode::kInvalidArgument, 0, 0},
      {-2, StatusCode::kInvalidArgument, 0, 0},
  };
  for (const MacroCase& c : cases) {
    SCOPED_TRACE(c.input);
    int steps = 0;
    Result<int> r = DoublePositiveEven(c.input, &steps);
    EXPECT_EQ(steps, c.steps);
    EXPECT_EQ(r.status().code(), c.code);
    if (c.code == StatusCode::kOk) {
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(*r, c.value);
    } else {
      EXPECT_FALSE(r.ok());
      EXPECT_THAT(r.status().message(), HasSubstr(std::to_string(c.input)));
    }
  }
}

TEST(ResultMacroTest, TwoAssignsInOneFunction) {
  int out = -1;
  EXPECT_TRUE(SumInto(2, 3, &out).ok());
  EXPECT_EQ(out, 5);

  out = -1;
  Status s = SumInto(2, -7, &out);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_THAT(s.message(), HasSubstr("-7"));
  EXPECT_EQ(out, -1);
}

TEST(ResultMacroTest, AssignToExistingVariable) {
  std::string out;
  EXPECT_TRUE(AssignExisting(4, &out).ok());
  EXPECT_EQ(out, "xxxx");

  out = "unchanged";
  EXPECT_EQ(AssignExisting(3, &out).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(out, "unchanged");
}

// The codes added for the server's authentication answers, and the optional reason payload that
// refines a code for API layers without changing its text.
TEST(StatusTest, AuthCodesAndReasonPayload) {
  EXPECT_EQ(Status::Unauthenticated("m").ToString(), "unauthenticated: m");
  EXPECT_EQ(Status::PermissionDenied("m").ToString(), "permission_denied: m");
  const Status plain = Status::ResourceExhausted("full");
  const Status refined = plain.WithReason("no_room", R"({"host":"h1"})");
  EXPECT_EQ(plain.reason(), "");
  EXPECT_EQ(refined.reason(), "no_room");
  EXPECT_EQ(refined.details_json(), R"({"host":"h1"})");
  EXPECT_EQ(refined.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(refined.ToString(), "resource_exhausted: full");
  const Status copy = refined;
  EXPECT_EQ(copy.reason(), "no_room");
}

}  // namespace
}  // namespace devshare
