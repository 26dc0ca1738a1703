import unittest

from inventory.report import format_report
from inventory.store import Store


class TestStore(unittest.TestCase):
    def test_add_twice_adds_quantities(self):
        s = Store()
        s.add("pen", 1.5)
        s.add("pen", 1.5, 2)
        self.assertEqual(s.find_by_name("pen").quantity, 3)

    def test_missing_is_none(self):
        self.assertIsNone(Store().find_by_name("nope"))

    def test_report(self):
        s = Store()
        s.add("pen", 1.5)
        self.assertEqual(format_report(s), "pen: 1 x $1.50")


if __name__ == "__main__":
    unittest.main()
