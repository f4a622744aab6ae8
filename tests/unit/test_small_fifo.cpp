#include "base/small_fifo.h"

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

using pympm::SmallFifo;

namespace {

std::vector<std::string> drain_all(SmallFifo<std::string>& q) {
    std::vector<std::string> out;
    while (!q.empty()) out.push_back(q.take_front());
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(small_fifo)

BOOST_AUTO_TEST_CASE(items_come_out_in_the_order_they_went_in) {
    SmallFifo<std::string> q;
    BOOST_TEST(q.empty());
    q.push_back("a");
    q.push_back("b");
    BOOST_TEST(q.take_front() == "a");
    q.push_back("c");
    BOOST_TEST(q.size() == 2u);
    BOOST_TEST(q.front() == "b");
    BOOST_TEST(drain_all(q) == (std::vector<std::string>{"b", "c"}));
    BOOST_TEST(q.empty());
    q.push_back("d"); // reused after it emptied
    BOOST_TEST(drain_all(q) == std::vector<std::string>{"d"});
}

BOOST_AUTO_TEST_CASE(push_front_goes_ahead_of_everything_queued) {
    SmallFifo<std::string> q;
    q.push_front("x"); // empty list
    q.push_back("a");
    q.push_back("b");
    BOOST_TEST(q.take_front() == "x");
    q.push_front("y"); // into the slot taken
    q.push_front("z"); // none free ahead: inserted
    BOOST_TEST(drain_all(q) == (std::vector<std::string>{"z", "y", "a", "b"}));
}

BOOST_AUTO_TEST_CASE(insert_puts_an_item_that_many_places_after_the_front) {
    SmallFifo<std::string> q;
    q.push_back("old");
    q.push_back("a");
    q.push_back("b");
    BOOST_TEST(q.take_front() == "old");
    q.insert(0, "x");
    q.insert(1, "y");
    q.insert(4, "z"); // at the back
    BOOST_TEST(drain_all(q) == (std::vector<std::string>{"x", "y", "a", "b", "z"}));
}

BOOST_AUTO_TEST_CASE(erase_if_keeps_the_order_of_what_stays) {
    SmallFifo<std::string> q;
    for (const char* s : {"keep1", "drop", "keep2", "drop", "keep3"}) q.push_back(s);
    BOOST_TEST(q.take_front() == "keep1");
    q.erase_if([](const std::string& s) { return s == "drop"; });
    BOOST_TEST(q.size() == 2u);
    BOOST_TEST(drain_all(q) == (std::vector<std::string>{"keep2", "keep3"}));
    q.push_back("drop");
    q.erase_if([](const std::string& s) { return s == "drop"; });
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(move_only_items_are_moved_not_copied) {
    SmallFifo<std::unique_ptr<int>> q;
    q.push_back(std::make_unique<int>(1));
    q.push_back(std::make_unique<int>(2));
    q.push_front(std::make_unique<int>(0));
    q.erase_if([](const std::unique_ptr<int>& p) { return *p == 1; });
    BOOST_TEST(*q.take_front() == 0);
    BOOST_TEST(*q.take_front() == 2);
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_SUITE_END()
