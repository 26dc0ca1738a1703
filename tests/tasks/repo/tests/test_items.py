import unittest

from inventory.items import Item, total_price


class TestItems(unittest.TestCase):
    def test_default_quantity(self):
        self.assertEqual(Item("pen", 1.5).quantity, 1)

    def test_total_price(self):
        items = [Item("pen", 1.5, 2), Item("ink", 4.0)]
        self.assertEqual(total_price(items), 7.0)


if __name__ == "__main__":
    unittest.main()
