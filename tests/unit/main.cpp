// The unit-test executable's entry point: the only file that defines
// BOOST_TEST_MODULE (Boost.Test is linked dynamically and provides main()).
#define BOOST_TEST_MODULE pympm_unit
#include <boost/test/unit_test.hpp>
