// The one Status -> HTTP mapping: HTTP status and API code per (Status code, reason), details
// carried through, unknown reasons falling back to the code's default, replies as 200/201.
#include "server/api_types.h"

#include <gtest/gtest.h>

#include <vector>

namespace devshare::server {
namespace {

struct MappingCase {
  Status status;
  int http;
  const char* code;
};

TEST(ApiTypesTest, StatusCodesAndReasonsMapToHttp) {
  const std::vector<MappingCase> cases = {
      {Status::InvalidArgument("m"), 400, "invalid_argument"},
      {Status::Unauthenticated("m"), 401, "unauthenticated"},
      {Status::PermissionDenied("m"), 403, "forbidden"},
      {Status::NotFound("m"), 404, "not_found"},
      {Status::AlreadyExists("m"), 409, "already_exists"},
      {Status::FailedPrecondition("m"), 409, "conflict"},
      {Status::FailedPrecondition("m").WithReason("unschedulable"), 409, "unschedulable"},
      {Status::FailedPrecondition("m").WithReason("inventory_in_use"), 409, "inventory_in_use"},
      {Status::FailedPrecondition("m").WithReason("idempotency_key_reused"), 422,
       "idempotency_key_reused"},
      {Status::FailedPrecondition("m").WithReason("no_room"), 409, "conflict"},  // not its code
      {Status::ResourceExhausted("m"), 409, "conflict"},
      {Status::ResourceExhausted("m").WithReason("no_room"), 409, "no_room"},
      {Status::ResourceExhausted("m").WithReason("payload_too_large"), 413, "payload_too_large"},
      {Status::Aborted("m"), 409, "concurrent_update"},
      {Status::Unavailable("m"), 503, "unavailable"},
      {Status::FailedPrecondition("m").WithReason("host_in_use"), 409, "host_in_use"},
      {Status::FailedPrecondition("m").WithReason("console_gap"), 409, "console_gap"},
      {Status::Internal("m"), 500, "internal"},
      {Status::DataLoss("m"), 500, "internal"},
      {Status::Unimplemented("m"), 500, "internal"},
  };
  for (const MappingCase& c : cases) {
    SCOPED_TRACE(c.status.ToString() + " reason " + std::string(c.status.reason()));
    const ApiResponse r = ErrorFromStatus(c.status);
    EXPECT_EQ(r.status, c.http);
    EXPECT_EQ(r.body["code"], c.code);
    EXPECT_EQ(r.body["message"], "m");
    EXPECT_EQ(r.body["details"], nlohmann::json::object());
    EXPECT_EQ(ApiErrorCode(c.status), c.code);
  }
}

TEST(ApiTypesTest, DetailsTravelWithTheStatus) {
  const Status s = Status::FailedPrecondition("0/1 hosts fit")
                       .WithReason("unschedulable", R"({"reasons":[{"filter":"gpu_fit"}]})");
  const ApiResponse r = ErrorFromStatus(s);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body["details"]["reasons"][0]["filter"], "gpu_fit");
  EXPECT_EQ(s.ToString(), "failed_precondition: 0/1 hosts fit");  // reason not in the text
  EXPECT_EQ(Status::NotFound("x").reason(), "");
}

TEST(ApiTypesTest, RepliesAnswer200Or201OrTheStoredAnswer) {
  EXPECT_EQ(ToResponse(Reply::Ok({{"a", 1}})).status, 200);
  const ApiResponse created = ToResponse(Reply::Created({{"id", "t-1"}}));
  EXPECT_EQ(created.status, 201);
  EXPECT_EQ(created.body["id"], "t-1");
  Reply replay;
  replay.replayed = ApiResponse{201, {{"id", "t-0"}}};
  EXPECT_EQ(ToResponse(replay).body["id"], "t-0");
  EXPECT_EQ(ToResponse(Result<Reply>(Status::NotFound("gone"))).status, 404);
}

TEST(ApiTypesTest, TransportErrorsKeepTheLibraryStatus) {
  EXPECT_EQ(TransportErrorResponse(413, "POST", "/v1/vms", "application/json").body["code"],
            "payload_too_large");
  const ApiResponse route = TransportErrorResponse(404, "PATCH", "/v1/vms", "");
  EXPECT_EQ(route.status, 404);
  EXPECT_EQ(route.body["message"], "no route PATCH /v1/vms");
  const ApiResponse other = TransportErrorResponse(400, "POST", "/v1/vms", "");
  EXPECT_EQ(other.status, 400);
  EXPECT_EQ(other.body["code"], "http_error");
}

}  // namespace
}  // namespace devshare::server
