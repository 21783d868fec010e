// Tests of the GLPK adapter: a problem owned by GlpkProblem solves a small LP whose optimum is
// known by hand, problems are distinct objects, and the lock is one process-wide mutex.
#include "devshare/lp/glpk_problem.h"

#include <glpk.h>
#include <gtest/gtest.h>

namespace devshare::lp {
namespace {

// max x + y  s.t.  x + 2y <= 4,  3x + y <= 6,  x, y >= 0: the optimum is the vertex where both
// rows are tight, x = 8/5, y = 6/5, value 14/5, with duals 2/5 and 1/5.
TEST(GlpkProblem, SolvesASmallLpWithAKnownVertex) {
  std::lock_guard<std::mutex> lock(GlpkMutex());
  glp_term_out(GLP_OFF);
  GlpkProblem problem;
  glp_prob* lp = problem.get();
  ASSERT_NE(lp, nullptr);
  glp_set_obj_dir(lp, GLP_MAX);
  glp_add_rows(lp, 2);
  glp_set_row_bnds(lp, 1, GLP_UP, 0.0, 4.0);
  glp_set_row_bnds(lp, 2, GLP_UP, 0.0, 6.0);
  glp_add_cols(lp, 2);
  for (int j = 1; j <= 2; ++j) {
    glp_set_col_bnds(lp, j, GLP_LO, 0.0, 0.0);
    glp_set_obj_coef(lp, j, 1.0);
  }
  const int ind[] = {0, 1, 2};
  const double x_col[] = {0, 1.0, 3.0};
  const double y_col[] = {0, 2.0, 1.0};
  glp_set_mat_col(lp, 1, 2, ind, x_col);
  glp_set_mat_col(lp, 2, 2, ind, y_col);
  glp_smcp parm;
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  ASSERT_EQ(glp_simplex(lp, &parm), 0);
  ASSERT_EQ(glp_get_status(lp), GLP_OPT);
  EXPECT_NEAR(glp_get_obj_val(lp), 14.0 / 5, 1e-9);
  EXPECT_NEAR(glp_get_col_prim(lp, 1), 8.0 / 5, 1e-9);
  EXPECT_NEAR(glp_get_col_prim(lp, 2), 6.0 / 5, 1e-9);
  EXPECT_NEAR(glp_get_row_dual(lp, 1), 2.0 / 5, 1e-9);
  EXPECT_NEAR(glp_get_row_dual(lp, 2), 1.0 / 5, 1e-9);
}

TEST(GlpkProblem, EachOwnerHasItsOwnEmptyProblem) {
  std::lock_guard<std::mutex> lock(GlpkMutex());
  GlpkProblem a;
  GlpkProblem b;
  EXPECT_NE(a.get(), b.get());
  glp_add_rows(a.get(), 3);
  EXPECT_EQ(glp_get_num_rows(a.get()), 3);
  EXPECT_EQ(glp_get_num_rows(b.get()), 0);
}

TEST(GlpkMutex, IsOneProcessWideLock) {
  EXPECT_EQ(&GlpkMutex(), &GlpkMutex());
  std::unique_lock<std::mutex> held(GlpkMutex());
  EXPECT_FALSE(GlpkMutex().try_lock());  // already held: every user waits for this one
  held.unlock();
  ASSERT_TRUE(GlpkMutex().try_lock());
  GlpkMutex().unlock();
}

}  // namespace
}  // namespace devshare::lp
