#!/usr/bin/env python3
"""Writes the sample Airtable base served by `catsync dev airtable-sim` (samples/airtable/catalog-base.json).

A product catalog with three linked tables — Brands, Suppliers, Products — whose Products table uses
every field type of the Airtable Web API (shared docs, airtable-api.md §5.2 and §6.2) at least once,
with the empty cells, error objects and special values real bases have. The first twenty products
are the ones of make_feeds.py (same brands, MPNs and UPCs), so distributor feeds match the catalog.

Deterministic: ids are derived from names by hashing, and rerunning writes identical bytes.
The file is the simulator's fixture format: the base schema of GET /v0/meta/bases/{id}/tables plus
a "records" list per table, keyed by field name. Computed fields (lookup, count, createdTime,
lastModifiedTime) are left out; the simulator computes them when a record is read.
"""
import hashlib
import json
import os

from make_feeds import PRODUCTS as FEED_PRODUCTS, check_digit, upc

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "airtable", "catalog-base.json")
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE_ID = "appCATALOG0000001"


def make_id(prefix, key):
    """A 17-character Airtable id: the prefix and 14 alphanumerics derived from `key`."""
    n = int.from_bytes(hashlib.sha256(key.encode()).digest(), "big")
    chars = []
    for _ in range(14):
        n, r = divmod(n, len(ALNUM))
        chars.append(ALNUM[r])
    return prefix + "".join(chars)


def pick(seq, key):
    return seq[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(seq)]


def num(key, lo, hi):
    """A deterministic integer in [lo, hi]."""
    return lo + int(hashlib.sha256(key.encode()).hexdigest(), 16) % (hi - lo + 1)


def ts(day, second):
    """ISO timestamp `day` days after 2025-01-06 plus `second` seconds, Airtable style (.000Z)."""
    days_in = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    month, dom = 1, 6 + day
    while dom > days_in[month - 1]:
        dom -= days_in[month - 1]
        month += 1
    h, rem = divmod(second, 3600)
    m, s = divmod(rem, 60)
    return f"2025-{month:02d}-{dom:02d}T{h:02d}:{m:02d}:{s:02d}.000Z"


def field(table, name, type_, options=None, description=None):
    f = {"id": make_id("fld", f"{table}/{name}"), "name": name, "type": type_}
    if description:
        f["description"] = description
    if options is not None:
        f["options"] = options
    return f


def choices(table, name, names_colors):
    return {"choices": [{"id": make_id("sel", f"{table}/{name}/{n}"), "name": n, "color": c} for n, c in names_colors]}


DATE_TIME_RESULT = {
    "type": "dateTime",
    "options": {
        "dateFormat": {"name": "iso", "format": "YYYY-MM-DD"},
        "timeFormat": {"name": "24hour", "format": "HH:mm"},
        "timeZone": "utc",
    },
}

USERS = [
    {"id": make_id("usr", "ana"), "email": "ana.ribeiro@example.com", "name": "Ana Ribeiro"},
    {"id": make_id("usr", "jonas"), "email": "jonas.weber@example.com", "name": "Jonas Weber"},
    {"id": make_id("usr", "mei"), "email": "mei.tanaka@example.com", "name": "Mei Tanaka"},
    {"id": make_id("usr", "sam"), "email": "sam.okafor@example.com", "name": "Sam Okafor"},
]

# name, country, website, aliases
BRANDS = [
    ("Bosch", "Germany", "https://www.bosch.com", "Robert Bosch\nBosch Professional"),
    ("Makita", "Japan", "https://www.makita.com", ""),
    ("DeWalt", "United States", "https://www.dewalt.com", "DEWALT\nDe Walt"),
    ("Milwaukee", "United States", "https://www.milwaukeetool.com", "Milwaukee Tool"),
    ("Hewlett-Packard", "United States", "https://www.hp.com", "HP\nHP Inc."),
    ("Brother", "Japan", "https://www.brother.com", ""),
    ("Epson", "Japan", "https://www.epson.com", "Seiko Epson"),
    ("Canon", "Japan", "https://www.canon.com", ""),
    ("Logitech", "Switzerland", "https://www.logitech.com", "Logi\nLogitech G"),
    ("Samsung", "South Korea", "https://www.samsung.com", "Samsung Electronics"),
    ("Philips", "Netherlands", "https://www.philips.com", "Signify\nPhilips Hue"),
    ("Anker", "China", "https://www.anker.com", "Anker Innovations"),
    ("Seagate", "United States", "https://www.seagate.com", ""),
    ("Kingston", "United States", "https://www.kingston.com", "Kingston Technology"),
    ("TP-Link", "China", "https://www.tp-link.com", "TPLink"),
    ("Netgear", "United States", "https://www.netgear.com", "NETGEAR"),
    ("Sony", "Japan", "https://www.sony.com", ""),
    ("JBL", "United States", "https://www.jbl.com", "Harman"),
    ("Dell", "United States", "https://www.dell.com", "Dell Technologies"),
    ("Lenovo", "China", "https://www.lenovo.com", ""),
    ("Western Digital", "United States", "https://www.westerndigital.com", "WD"),
]
FEED_BRAND = {"HP": "Hewlett-Packard"}

# name, email, phone, lead time days, website, preferred
SUPPLIERS = [
    ("Acme Distribution", "orders@acme-distribution.example", "+1 312 555 0148", 3, "https://acme-distribution.example", True),
    ("Nordhandel GmbH", "bestellung@nordhandel.example", "+49 40 5550 1234", 5, "https://nordhandel.example", True),
    ("Pacific Trading", "sales@pacific-trading.example", "+1 415 555 0199", 9, "https://pacific-trading.example", False),
    ("Summit Wholesale", "desk@summit-wholesale.example", "+1 720 555 0110", 4, "https://summit-wholesale.example", False),
    ("Brightline Imports", "hello@brightline.example", "+44 20 7946 0321", 14, "", False),
]

# More products, per brand: (title, mpn, category, price, tags). Titles and part numbers follow the
# manufacturers' naming; "{v}" variants multiply them.
CATALOG = {
    "Bosch": [
        ("Bosch 18V Brushless Compact Drill/Driver Kit", "GSR18V-400B22", "Power Tools > Drills", 179.0),
        ("Bosch 18V Hammer Drill/Driver Bare Tool", "GSB18V-490N", "Power Tools > Drills", 129.0),
        ("Bosch 12V Max Impact Driver Kit", "PS41-2A", "Power Tools > Drivers", 149.0),
        ("Bosch 18V 6-1/2 In. Circular Saw Bare Tool", "GKS18V-22N", "Power Tools > Saws", 159.0),
        ("Bosch SDS-plus Bulldog Xtreme Rotary Hammer", "11255VSR", "Power Tools > Hammers", 229.0),
        ("Bosch 4-1/2 In. Angle Grinder", "GWS8-45", "Power Tools > Grinders", 79.0),
        ("Bosch 18V 4.0Ah CORE18V Battery", "GBA18V40", "Power Tools > Batteries", 99.0),
    ],
    "Makita": [
        ("Makita 18V LXT Brushless Impact Driver Kit", "XDT16T", "Power Tools > Drivers", 249.0),
        ("Makita 18V LXT Sub-Compact Drill Driver Bare Tool", "XFD11ZB", "Power Tools > Drills", 89.0),
        ("Makita 18V LXT 6-1/2 In. Circular Saw", "XSS02Z", "Power Tools > Saws", 149.0),
        ("Makita 18V LXT Cordless Vacuum", "XLC02ZB", "Power Tools > Cleaning", 99.0),
        ("Makita 18V LXT 5.0Ah Battery", "BL1850B", "Power Tools > Batteries", 129.0),
        ("Makita 4-1/2 In. Paddle Switch Angle Grinder", "9557PB", "Power Tools > Grinders", 69.0),
    ],
    "DeWalt": [
        ("DEWALT 20V MAX XR Hammer Drill Kit", "DCD996P2", "Power Tools > Drills", 299.0),
        ("DEWALT 20V MAX Impact Driver Bare Tool", "DCF887B", "Power Tools > Drivers", 139.0),
        ("DEWALT 20V MAX 7-1/4 In. Circular Saw", "DCS570B", "Power Tools > Saws", 179.0),
        ("DEWALT 20V MAX Oscillating Multi-Tool", "DCS356B", "Power Tools > Multi-Tools", 129.0),
        ("DEWALT 20V MAX 5.0Ah Battery 2-Pack", "DCB205-2", "Power Tools > Batteries", 199.0),
        ("DEWALT 12 In. Double Bevel Compound Miter Saw", "DWS716", "Power Tools > Saws", 499.0),
    ],
    "Milwaukee": [
        ("Milwaukee M18 FUEL 1/2 In. Hammer Drill Kit", "2904-22", "Power Tools > Drills", 349.0),
        ("Milwaukee M18 FUEL 1/4 In. Hex Impact Driver", "2953-20", "Power Tools > Drivers", 179.0),
        ("Milwaukee M12 FUEL Installation Drill/Driver Kit", "2505-22", "Power Tools > Drills", 249.0),
        ("Milwaukee M18 SAWZALL Reciprocating Saw", "2821-20", "Power Tools > Saws", 229.0),
        ("Milwaukee M18 REDLITHIUM XC5.0 Battery", "48-11-1850", "Power Tools > Batteries", 139.0),
        ("Milwaukee M12 Cordless Jobsite Radio", "2951-20", "Power Tools > Accessories", 99.0),
    ],
    "Hewlett-Packard": [
        ("HP LaserJet Pro M404n Printer", "W1A52A#BGJ", "Printing > Printers", 279.0),
        ("HP OfficeJet Pro 9015e All-in-One Printer", "1G5L3A#B1H", "Printing > Printers", 229.0),
        ("HP 58A Black Original LaserJet Toner Cartridge", "CF258A", "Printing > Toner", 119.0),
        ("HP 910XL High Yield Black Ink Cartridge", "3YL65AN#140", "Printing > Ink", 49.0),
        ("HP 67XL High Yield Tri-color Ink Cartridge", "3YM58AN#140", "Printing > Ink", 36.0),
        ("HP 24mh FHD Monitor", "1D0J9AA#ABA", "Computers > Monitors", 159.0),
    ],
    "Brother": [
        ("Brother HL-L2350DW Compact Mono Laser Printer", "HL-L2350DW", "Printing > Printers", 159.0),
        ("Brother MFC-L2750DW Mono Laser All-in-One", "MFC-L2750DW", "Printing > Printers", 299.0),
        ("Brother TN730 Standard Yield Toner", "TN-730", "Printing > Toner", 56.0),
        ("Brother DR730 Drum Unit", "DR-730", "Printing > Drums", 99.0),
        ("Brother P-touch PTD210 Label Maker", "PT-D210", "Printing > Labels", 39.0),
    ],
    "Epson": [
        ("Epson EcoTank ET-4850 All-in-One Printer", "C11CJ60201", "Printing > Printers", 499.0),
        ("Epson 502 Black Ink Bottle", "T502120-S", "Printing > Ink", 19.0),
        ("Epson WorkForce ES-400 II Document Scanner", "B11B261201", "Printing > Scanners", 349.0),
        ("Epson Expression Home XP-4200 Printer", "C11CK65201", "Printing > Printers", 99.0),
    ],
    "Canon": [
        ("Canon imageCLASS MF273dw Laser All-in-One", "5621C013", "Printing > Printers", 249.0),
        ("Canon PG-245XL Black Ink Cartridge", "8278B001", "Printing > Ink", 31.0),
        ("Canon CanoScan LiDE 300 Scanner", "2995C002", "Printing > Scanners", 79.0),
        ("Canon PIXMA G6020 MegaTank Printer", "3113C002", "Printing > Printers", 279.0),
    ],
    "Logitech": [
        ("Logitech MX Keys S Wireless Keyboard", "920-011406", "Computers > Keyboards", 109.0),
        ("Logitech C920s HD Pro Webcam", "960-001257", "Computers > Webcams", 69.0),
        ("Logitech M720 Triathlon Multi-Device Mouse", "910-004790", "Computers > Mice", 49.0),
        ("Logitech G502 HERO Gaming Mouse", "910-005469", "Computers > Mice", 79.0),
        ("Logitech Zone Vibe 100 Wireless Headset", "981-001212", "Audio > Headsets", 99.0),
        ("Logitech K380 Multi-Device Bluetooth Keyboard", "920-009600", "Computers > Keyboards", 39.0),
    ],
    "Samsung": [
        ("Samsung Galaxy S24 128GB Unlocked", "SM-S921UZKAXAA", "Mobile > Phones", 799.0),
        ("Samsung Galaxy A35 5G 128GB Unlocked", "SM-A356ULBAXAA", "Mobile > Phones", 399.0),
        ("Samsung Galaxy Tab S9 FE 128GB", "SM-X510NZAAXAR", "Mobile > Tablets", 449.0),
        ("Samsung 990 PRO 2TB PCIe 4.0 NVMe SSD", "MZ-V9P2T0B/AM", "Computers > Storage", 169.0),
        ("Samsung T7 Shield 2TB Portable SSD", "MU-PE2T0S/AM", "Computers > Storage", 149.0),
        ("Samsung 25W USB-C Super Fast Charger", "EP-TA800NBEGUS", "Mobile > Chargers", 19.0),
        ("Samsung Galaxy Buds FE", "SM-R400NZAAXAR", "Audio > Earbuds", 99.0),
    ],
    "Philips": [
        ("Philips Hue White and Color Ambiance A19 Starter Kit", "563222", "Lighting > Smart Bulbs", 199.0),
        ("Philips Sonicare ProtectiveClean 4100", "HX6817/01", "Personal Care > Toothbrushes", 49.0),
        ("Philips Hue Play Light Bar 2-Pack", "7820231U7", "Lighting > Smart Lights", 129.0),
    ],
    "Anker": [
        ("Anker PowerCore 10000 Portable Charger", "A1263", "Mobile > Power Banks", 25.0),
        ("Anker 735 Charger GaNPrime 65W", "A2668", "Mobile > Chargers", 55.0),
        ("Anker USB-C Hub 7-in-1", "A8346", "Computers > Hubs", 35.0),
    ],
    "Seagate": [
        ("Seagate IronWolf 8TB NAS Hard Drive", "ST8000VN004", "Computers > Storage", 169.0),
        ("Seagate BarraCuda 2TB Internal Hard Drive", "ST2000DM008", "Computers > Storage", 59.0),
        ("Seagate Expansion 5TB Portable Drive", "STKM5000400", "Computers > Storage", 129.0),
    ],
    "Kingston": [
        ("Kingston FURY Beast 32GB DDR5 5600 Kit", "KF556C40BBK2-32", "Computers > Memory", 99.0),
        ("Kingston DataTraveler Exodia 128GB USB 3.2", "DTX/128GB", "Computers > Storage", 12.0),
        ("Kingston NV2 1TB PCIe 4.0 NVMe SSD", "SNV2S/1000G", "Computers > Storage", 59.0),
    ],
    "TP-Link": [
        ("TP-Link Deco X55 AX3000 Mesh Wi-Fi 3-Pack", "Deco X55(3-pack)", "Networking > Mesh", 199.0),
        ("TP-Link TL-SG108 8-Port Gigabit Switch", "TL-SG108", "Networking > Switches", 22.0),
        ("TP-Link Tapo C200 Pan/Tilt Security Camera", "Tapo C200", "Networking > Cameras", 29.0),
    ],
    "Netgear": [
        ("NETGEAR Nighthawk RAX50 AX5400 Router", "RAX50-100NAS", "Networking > Routers", 229.0),
        ("NETGEAR 5-Port Gigabit Ethernet Switch", "GS305-300PAS", "Networking > Switches", 18.0),
        ("NETGEAR Orbi RBK753 Mesh System", "RBK753-100NAS", "Networking > Mesh", 449.0),
    ],
    "Sony": [
        ("Sony WF-1000XM5 Wireless Earbuds", "WF1000XM5/B", "Audio > Earbuds", 299.0),
        ("Sony SRS-XB100 Portable Speaker", "SRSXB100/B", "Audio > Speakers", 59.0),
        ("Sony ZV-1F Vlog Camera", "DCZV1F/B", "Cameras > Compact", 499.0),
    ],
    "JBL": [
        ("JBL Charge 5 Portable Speaker", "JBLCHARGE5BLKAM", "Audio > Speakers", 179.0),
        ("JBL Tune 510BT Wireless Headphones", "JBLT510BTBLKAM", "Audio > Headphones", 49.0),
        ("JBL Go 3 Portable Speaker", "JBLGO3BLKAM", "Audio > Speakers", 39.0),
    ],
    "Dell": [
        ("Dell 27 Monitor S2721DS", "S2721DS", "Computers > Monitors", 279.0),
        ("Dell Pro Wireless Keyboard and Mouse KM5221W", "KM5221W", "Computers > Keyboards", 49.0),
        ("Dell USB-C Dock WD19S", "WD19S130W", "Computers > Docks", 229.0),
    ],
    "Lenovo": [
        ("Lenovo ThinkPad X1 Carbon Gen 11 14 In.", "21HM000SUS", "Computers > Laptops", 1899.0),
        ("Lenovo Tab M10 Plus 3rd Gen 64GB", "ZAAJ0391US", "Mobile > Tablets", 199.0),
        ("Lenovo ThinkPad USB-C Dock Gen 2", "40AS0090US", "Computers > Docks", 249.0),
    ],
    "Western Digital": [
        ("WD Red Plus 4TB NAS Hard Drive", "WD40EFPX", "Computers > Storage", 99.0),
        ("WD_BLACK SN850X 1TB NVMe SSD", "WDS100T2X0E", "Computers > Storage", 89.0),
        ("WD My Passport 2TB Portable Drive", "WDBYVG0020BBK-WESN", "Computers > Storage", 79.0),
    ],
}
# Per-brand GS1 company prefixes: UPC-A (12 digits, starting 0) for US-registered companies, EAN-13 otherwise.
GS1_PREFIX = {
    "Bosch": "3165140", "Makita": "088381", "DeWalt": "885911", "Milwaukee": "045242", "Hewlett-Packard": "195161",
    "Brother": "012502", "Epson": "010343", "Canon": "013803", "Logitech": "097855", "Samsung": "8806094",
    "Philips": "8719514", "Anker": "194644", "Seagate": "763649", "Kingston": "740617", "TP-Link": "6935364",
    "Netgear": "606449", "Sony": "4548736", "JBL": "050036", "Dell": "884116", "Lenovo": "195890",
    "Western Digital": "718037",
}
VARIANTS = ["", " (Renewed)", " - Bulk Pack"]

TAGS = [("Power tools", "orangeLight2"), ("Cordless", "yellowLight2"), ("Printing", "blueLight2"),
        ("Consumables", "grayLight2"), ("Peripherals", "cyanLight2"), ("Mobile", "purpleLight2"),
        ("Storage", "tealLight2"), ("Networking", "greenLight2"), ("Audio", "pinkLight2"),
        ("Bestseller", "redLight2"), ("Clearance", "redDark1")]
STATUSES = [("Active", "greenLight2"), ("Draft", "yellowLight2"), ("Discontinued", "grayLight2"), ("Archived", "grayDark1")]


def gtin_for(brand, n):
    prefix = GS1_PREFIX[brand]
    length = 11 if len(prefix) == 6 else 12  # UPC-A: 11 data digits; EAN-13: 12
    data = prefix + f"{n:0{length - len(prefix)}d}"[-(length - len(prefix)):]
    return data + check_digit(data)


def tags_for(category, i):
    top = category.split(" > ")[0]
    tags = {
        "Power Tools": ["Power tools"] + (["Cordless"] if i % 3 else []),
        "Printing": ["Printing"] + (["Consumables"] if "Toner" in category or "Ink" in category or "Drum" in category else []),
        "Computers": ["Storage"] if "Storage" in category or "Memory" in category else ["Peripherals"],
        "Mobile": ["Mobile"],
        "Networking": ["Networking"],
        "Audio": ["Audio"],
    }.get(top, [])
    if i % 11 == 0:
        tags.append("Bestseller")
    if i % 17 == 5:
        tags.append("Clearance")
    return tags


def product_rows():
    """(brand, mpn, title, category, price, gtin) for 150 products; the feed products first."""
    rows = []
    for i, (brand, mpn, title, cat, price) in enumerate(FEED_PRODUCTS):
        rows.append((FEED_BRAND.get(brand, brand), mpn, title, cat, float(price), upc(740000 + i * 7)))
    n = 0
    for variant in VARIANTS:
        for brand, items in CATALOG.items():
            for title, mpn, cat, price in items:
                if len(rows) >= 150:
                    return rows
                n += 1
                suffix = {"": "", " (Renewed)": "-RB", " - Bulk Pack": "-BK"}[variant]
                factor = {"": 1.0, " (Renewed)": 0.78, " - Bulk Pack": 4.6}[variant]
                rows.append((brand, mpn + suffix, title + variant, cat, round(price * factor, 2), gtin_for(brand, 1000 + n * 37)))
    return rows


def products_table(brand_ids, supplier_ids, supplier_lead):
    t = "Products"
    brands_tbl, suppliers_tbl = make_id("tbl", "Brands"), make_id("tbl", "Suppliers")
    fid = lambda name: make_id("fld", f"{t}/{name}")
    fields = [
        field(t, "Name", "singleLineText", description="Product title as shown in the shop"),
        field(t, "SKU", "singleLineText"),
        field(t, "MPN", "singleLineText", description="Manufacturer part number"),
        field(t, "UPC", "singleLineText", description="GTIN-12 (UPC-A) or GTIN-13 (EAN), check digit valid"),
        field(t, "Barcode", "barcode"),
        field(t, "Brand", "multipleRecordLinks", {"linkedTableId": brands_tbl, "isReversed": False,
              "prefersSingleRecordLink": True, "inverseLinkFieldId": make_id("fld", "Brands/Products")}),
        field(t, "Brand name", "multipleLookupValues", {"isValid": True, "recordLinkFieldId": fid("Brand"),
              "fieldIdInLinkedTable": make_id("fld", "Brands/Name"), "result": {"type": "singleLineText"}}),
        field(t, "Supplier", "multipleRecordLinks", {"linkedTableId": suppliers_tbl, "isReversed": False,
              "prefersSingleRecordLink": False, "inverseLinkFieldId": make_id("fld", "Suppliers/Products")}),
        field(t, "Supplier count", "count", {"isValid": True, "recordLinkFieldId": fid("Supplier")}),
        field(t, "Avg lead time", "rollup", {"isValid": True, "recordLinkFieldId": fid("Supplier"),
              "fieldIdInLinkedTable": make_id("fld", "Suppliers/Lead time (days)"),
              "referencedFieldIds": [make_id("fld", "Suppliers/Lead time (days)")],
              "result": {"type": "number", "options": {"precision": 1}}}),
        field(t, "Description", "multilineText"),
        field(t, "Specs", "richText"),
        field(t, "Support email", "email"),
        field(t, "Product page", "url"),
        field(t, "Support phone", "phoneNumber"),
        field(t, "Pack size", "number", {"precision": 0}),
        field(t, "Weight (kg)", "number", {"precision": 2}),
        field(t, "Price", "currency", {"precision": 2, "symbol": "$"}),
        field(t, "Cost", "currency", {"precision": 2, "symbol": "$"}),
        field(t, "Discount", "percent", {"precision": 0}),
        field(t, "Rating", "rating", {"max": 5, "icon": "star", "color": "yellowBright"}),
        field(t, "Charge time", "duration", {"durationFormat": "h:mm"}),
        field(t, "In stock", "checkbox", {"icon": "check", "color": "greenBright"}),
        field(t, "Launch date", "date", {"dateFormat": {"name": "iso", "format": "YYYY-MM-DD"}}),
        field(t, "Price updated", "dateTime", DATE_TIME_RESULT["options"]),
        field(t, "Status", "singleSelect", choices(t, "Status", STATUSES)),
        field(t, "Tags", "multipleSelects", choices(t, "Tags", TAGS)),
        field(t, "Display name", "formula", {"isValid": True, "formula": f"{{{fid('SKU')}}} & \" · \" & {{{fid('Brand name')}}}",
              "referencedFieldIds": [fid("SKU"), fid("Brand name")], "result": {"type": "singleLineText"}}),
        field(t, "Margin", "formula", {"isValid": True, "formula": f"({{{fid('Price')}}} - {{{fid('Cost')}}}) / {{{fid('Price')}}}",
              "referencedFieldIds": [fid("Price"), fid("Cost")], "result": {"type": "percent", "options": {"precision": 1}}}),
        field(t, "Photos", "multipleAttachments", {"isReversed": False}),
        field(t, "Product manager", "singleCollaborator", {}),
        field(t, "Reviewers", "multipleCollaborators", {}),
        field(t, "Created by", "createdBy"),
        field(t, "Last modified by", "lastModifiedBy"),
        field(t, "Item #", "autoNumber"),
        field(t, "Created", "createdTime", {"result": DATE_TIME_RESULT}),
        field(t, "Updated", "lastModifiedTime", {"isValid": True, "referencedFieldIds": [], "result": DATE_TIME_RESULT}),
        field(t, "Open page", "button"),
        field(t, "Sync source", "externalSyncSource", choices(t, "Sync source", [("Supplier feed", "blueLight2"), ("Manual", "grayLight2")])),
        field(t, "Summary", "aiText", {"prompt": ["Summarize ", {"field": {"fieldId": fid("Description")}}],
              "referencedFieldIds": [fid("Description")]}),
    ]
    records = []
    for i, (brand, mpn, title, cat, price, gtin) in enumerate(product_rows()):
        key = f"product/{i}"
        sku = f"CAT-{10001 + i}"
        cost = round(price * (0.62 + num(key + "cost", 0, 20) / 100), 2)
        fields_ = {"Name": title, "SKU": sku, "MPN": mpn, "Brand": [brand_ids[brand]]}
        if i % 23 != 7:
            fields_["UPC"] = gtin
            fields_["Barcode"] = {"text": gtin} if i % 5 else {"text": gtin, "type": "upca" if len(gtin) == 12 else "ean13"}
        sups = sorted({pick(list(supplier_ids), key + "s1"), pick(list(supplier_ids), key + "s2")}) if i % 9 else []
        if i < 20:
            sups = ["Acme Distribution", "Summit Wholesale"] if i % 2 else ["Acme Distribution", "Nordhandel GmbH"]
        if sups:
            fields_["Supplier"] = [supplier_ids[s] for s in sups]
            fields_["Avg lead time"] = sum(supplier_lead[s] for s in sups) / len(sups)
        else:
            fields_["Avg lead time"] = {"specialValue": "NaN"}  # AVERAGE over no linked records
        if i % 7 != 3:
            fields_["Description"] = f"{title}.\nCategory: {cat}.\nSold by {brand}."
        if i % 4 == 0:
            fields_["Specs"] = f"# {title}\n- MPN: **{mpn}**\n- Category: {cat}\n"
        elif i == 6:
            fields_["Specs"] = "\n"  # a cleared rich-text cell reads back as a lone newline
        slug = brand.lower().replace(" ", "").replace("-", "")
        fields_["Support email"] = f"support@{slug}.example"
        if i % 6 != 2:
            fields_["Product page"] = f"https://shop.example.com/p/{sku.lower()}"
        if i % 3 == 0:
            fields_["Support phone"] = f"+1 800 555 {num(key + 'ph', 1000, 9999)}"
        fields_["Pack size"] = 10 if "Bulk" in title else (0 if i == 13 else 1)  # a zero is a value, not empty
        fields_["Weight (kg)"] = num(key + "w", 5, 600) / 100
        if i % 19 != 11:
            fields_["Price"] = price
            fields_["Cost"] = cost
            fields_["Margin"] = round((price - cost) / price, 4)
        else:
            fields_["Margin"] = {"specialValue": "NaN"}  # 0/0: no price, no cost
        if i % 29 == 4:
            fields_["Margin"] = {"error": "#ERROR!"}
        if i % 4 == 1:
            fields_["Discount"] = [0.05, 0.1, 0.15, 0.2, 0.0][i % 5]  # 0 is kept
        if i % 5 != 0:
            fields_["Rating"] = 1 + num(key + "r", 0, 4)
        if cat.startswith("Power Tools") and "Batter" not in cat:
            fields_["Charge time"] = [1800, 3600, 4500, 5400][i % 4]
        if i % 8 != 5:
            fields_["In stock"] = True
        fields_["Launch date"] = f"20{22 + i % 4}-{1 + i % 12:02d}-{1 + num(key + 'd', 0, 27):02d}"
        if i % 10 != 9:
            fields_["Price updated"] = ts(num(key + "pu", 0, 40), num(key + "pus", 0, 86399))
        fields_["Status"] = "Active" if (i + 1) % 13 else STATUSES[1 + (i // 13) % 3][0]
        tags = tags_for(cat, i)
        if tags:
            fields_["Tags"] = tags
        fields_["Display name"] = f"{sku} · {brand}"
        if i % 3 != 1:
            fields_["Photos"] = [attachment(key, mpn, 0)] + ([attachment(key, mpn, 1)] if i % 6 == 0 else [])
        fields_["Product manager"] = USERS[i % 3]
        if i % 5 == 2:
            fields_["Reviewers"] = [USERS[3], USERS[(i + 1) % 3]]
        fields_["Created by"] = USERS[i % 2]
        fields_["Last modified by"] = USERS[(i + 1) % 4]
        fields_["Item #"] = i + 1
        fields_["Open page"] = {"label": "Open in shop", "url": f"https://shop.example.com/p/{sku.lower()}"}
        fields_["Sync source"] = "Supplier feed" if i % 2 else "Manual"
        if i % 7 == 3:
            fields_["Summary"] = {"state": "empty", "isStale": False, "value": None}
        elif i % 31 == 30:
            fields_["Summary"] = {"state": "error", "errorType": "emptyDependency", "isStale": False, "value": None}
        else:
            fields_["Summary"] = {"state": "generated", "isStale": i % 10 == 0, "value": f"{brand} {cat.split(' > ')[-1].lower()}, part {mpn}."}
        created = ts(i // 6, 8 * 3600 + (i * 97) % 28000)
        rec = {"id": make_id("rec", key), "createdTime": created, "fields": fields_}
        if i % 4 == 2:
            rec["modifiedTime"] = ts(30 + i // 10, 9 * 3600 + (i * 53) % 30000)
        records.append(rec)
    views = [
        {"id": make_id("viw", "Products/Grid view"), "name": "Grid view", "type": "grid"},
        {"id": make_id("viw", "Products/Active SKUs"), "name": "Active SKUs", "type": "grid",
         "filterByFormula": "{Status}='Active'", "sort": [{"field": "SKU", "direction": "asc"}]},
        {"id": make_id("viw", "Products/By brand"), "name": "By brand", "type": "kanban"},
    ]
    return {"id": make_id("tbl", t), "name": t, "description": "One row per catalog product",
            "primaryFieldId": fid("Name"), "fields": fields, "views": views, "records": records}


def attachment(key, mpn, n):
    name = mpn.lower().replace("/", "-").replace(" ", "-").replace("#", "-")
    w, h = 1200 + 100 * n, 1200
    return {"id": make_id("att", f"{key}/{n}"), "filename": f"{name}-{n + 1}.jpg", "size": num(key + str(n), 40000, 400000),
            "type": "image/jpeg", "width": w, "height": h,
            "thumbnails": {"small": {"width": 36, "height": 36}, "large": {"width": 512, "height": 512},
                           "full": {"width": w, "height": h}}}


def brands_table(product_ids_by_brand):
    t = "Brands"
    fields = [
        field(t, "Name", "singleLineText"),
        field(t, "Country", "singleSelect", choices(t, "Country", [(c, "blueLight2") for c in sorted({b[1] for b in BRANDS})])),
        field(t, "Website", "url"),
        field(t, "Aliases", "multilineText", description="Other spellings, one per line"),
        field(t, "Products", "multipleRecordLinks", {"linkedTableId": make_id("tbl", "Products"), "isReversed": False,
              "prefersSingleRecordLink": False, "inverseLinkFieldId": make_id("fld", "Products/Brand")}),
        field(t, "Product count", "count", {"isValid": True, "recordLinkFieldId": make_id("fld", "Brands/Products")}),
        field(t, "Updated", "lastModifiedTime", {"isValid": True, "referencedFieldIds": [], "result": DATE_TIME_RESULT}),
    ]
    records = []
    for i, (name, country, site, aliases) in enumerate(BRANDS):
        f = {"Name": name, "Country": country, "Website": site, "Products": product_ids_by_brand.get(name, [])}
        if aliases:
            f["Aliases"] = aliases
        records.append({"id": make_id("rec", f"brand/{name}"), "createdTime": ts(0, 7 * 3600 + i * 61), "fields": f})
    return {"id": make_id("tbl", t), "name": t, "primaryFieldId": make_id("fld", "Brands/Name"), "fields": fields,
            "views": [{"id": make_id("viw", "Brands/Grid view"), "name": "Grid view", "type": "grid"}], "records": records}


def suppliers_table(product_ids_by_supplier):
    t = "Suppliers"
    fields = [
        field(t, "Name", "singleLineText"),
        field(t, "Email", "email"),
        field(t, "Phone", "phoneNumber"),
        field(t, "Lead time (days)", "number", {"precision": 0}),
        field(t, "Website", "url"),
        field(t, "Preferred", "checkbox", {"icon": "star", "color": "yellowBright"}),
        field(t, "Products", "multipleRecordLinks", {"linkedTableId": make_id("tbl", "Products"), "isReversed": False,
              "prefersSingleRecordLink": False, "inverseLinkFieldId": make_id("fld", "Products/Supplier")}),
    ]
    records = []
    for i, (name, email, phone, lead, site, preferred) in enumerate(SUPPLIERS):
        f = {"Name": name, "Email": email, "Phone": phone, "Lead time (days)": lead, "Website": site,
             "Preferred": preferred, "Products": product_ids_by_supplier.get(name, [])}
        records.append({"id": make_id("rec", f"supplier/{name}"), "createdTime": ts(0, 7 * 3600 + 1800 + i * 67), "fields": f})
    return {"id": make_id("tbl", t), "name": t, "primaryFieldId": make_id("fld", "Suppliers/Name"), "fields": fields,
            "views": [{"id": make_id("viw", "Suppliers/Grid view"), "name": "Grid view", "type": "grid"}], "records": records}


def dumps(base):
    """JSON with one field, view or record per line: small, yet diffs stay readable."""
    out = ['{"id": %s, "name": %s, "permissionLevel": "create", "tables": [' % (json.dumps(base["id"]), json.dumps(base["name"]))]
    for ti, table in enumerate(base["tables"]):
        head = {k: v for k, v in table.items() if k not in ("fields", "views", "records")}
        out.append(" " + json.dumps(head, ensure_ascii=False)[:-1] + ',')
        for key in ("fields", "views", "records"):
            out.append(f'  "{key}": [')
            items = table[key]
            for i, item in enumerate(items):
                out.append("   " + json.dumps(item, ensure_ascii=False, separators=(",", ":")) + ("," if i + 1 < len(items) else ""))
            out.append("  ]" + ("," if key != "records" else ""))
        out.append(" }" + ("," if ti + 1 < len(base["tables"]) else ""))
    out.append("]}")
    return "\n".join(out) + "\n"


def main():
    brand_ids = {b[0]: make_id("rec", f"brand/{b[0]}") for b in BRANDS}
    supplier_ids = {s[0]: make_id("rec", f"supplier/{s[0]}") for s in SUPPLIERS}
    supplier_lead = {s[0]: s[3] for s in SUPPLIERS}
    products = products_table(brand_ids, supplier_ids, supplier_lead)
    by_brand, by_supplier = {}, {}
    for rec in products["records"]:
        for b in rec["fields"]["Brand"]:
            by_brand.setdefault(next(n for n, i in brand_ids.items() if i == b), []).append(rec["id"])
        for s in rec["fields"].get("Supplier", []):
            by_supplier.setdefault(next(n for n, i in supplier_ids.items() if i == s), []).append(rec["id"])
    base = {"id": BASE_ID, "name": "Product catalog",
            "tables": [brands_table(by_brand), suppliers_table(by_supplier), products]}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(dumps(base))


if __name__ == "__main__":
    main()
