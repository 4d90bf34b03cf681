-- Word lists the generator picks from (`pick(list, u)`). Entries at the same position in
-- first_names and first_names_ascii (last_names and last_names_ascii) are one name, the
-- second its e-mail-safe spelling.
create or replace temp macro first_names() as [
    'Jane', 'John', 'Maria', 'José', 'Zoë', 'Björn', 'François', 'Łukasz', '美咲', 'Søren', 'Renée',
    'Aisha', 'Mohammed', 'Olivia', 'Liam', 'Chloé', 'Noah', 'Emma', 'Ana', 'Kenji', 'Priya',
    'Lucas', 'Sofía', 'Mateo', 'Grace', 'Ethan', 'Amélie', 'Oliver', 'Ingrid', 'Wei'
];

create or replace temp macro first_names_ascii() as [
    'jane', 'john', 'maria', 'jose', 'zoe', 'bjorn', 'francois', 'lukasz', 'misaki', 'soren',
    'renee', 'aisha', 'mohammed', 'olivia', 'liam', 'chloe', 'noah', 'emma', 'ana', 'kenji',
    'priya', 'lucas', 'sofia', 'mateo', 'grace', 'ethan', 'amelie', 'oliver', 'ingrid', 'wei'
];

create or replace temp macro last_names() as [
    'Doe', 'Smith', 'García', 'Müller', 'O''Brien', 'Nguyễn', 'Johnson', 'Kowalski', 'Tanaka',
    'Dubois', 'Rossi', 'Andersen', 'Brown', 'Patel', 'Silva', 'Ødegaard', 'Fernández', 'Lee',
    'Martin', 'Schröder', 'Williams', 'Kim', 'Novák', 'Jones', 'Taylor', 'Wilson', 'Çelik', 'Davis',
    'Moore', 'Clark'
];

create or replace temp macro last_names_ascii() as [
    'doe', 'smith', 'garcia', 'mueller', 'obrien', 'nguyen', 'johnson', 'kowalski', 'tanaka',
    'dubois', 'rossi', 'andersen', 'brown', 'patel', 'silva', 'odegaard', 'fernandez', 'lee',
    'martin', 'schroeder', 'williams', 'kim', 'novak', 'jones', 'taylor', 'wilson', 'celik',
    'davis', 'moore', 'clark'
];

-- Reserved example domains: demo addresses must never reach a real mailbox.
create or replace temp macro email_domains() as [
    'example.com', 'example.org', 'example.net', 'mail.example.com', 'shop.example.net'
];

create or replace temp macro emoji() as [
    '✨', '🌸', '🎉', '🌿', '🔥', '💎'
];

create or replace temp macro adjectives() as [
    'Classic', 'Everyday', 'Vintage', 'Organic', 'Lightweight', 'Premium', 'Relaxed', 'Slim',
    'Cozy', 'Essential', 'Heritage', 'Modern', 'Rugged', 'Soft', 'Weekend'
];

create or replace temp macro materials() as [
    'Cotton', 'Linen', 'Wool', 'Denim', 'Leather', 'Canvas', 'Cashmere', 'Bamboo', 'Merino', 'Suede'
];

create or replace temp macro nouns() as [
    'Shirt', 'Tee', 'Chinos', 'Jacket', 'Scarf', 'Tote', 'Sneaker', 'Beanie', 'Hoodie', 'Dress',
    'Backpack', 'Belt', 'Blanket', 'Candle', 'Mug'
];

create or replace temp macro unicode_words() as [
    'Crème Brûlée', 'Café Noir', 'Zürich', 'Naïve', 'Tōkyō', '北欧', 'Señorita', 'Smörgåsbord'
];

create or replace temp macro vendors() as [
    'Northwind Outfitters', 'Acme & Sons', 'O''Malley Goods', 'Café Lumière', 'Blue Ridge Co.',
    'Harbor, Field & Co', 'Über Basics', 'Demo Shop'
];

create or replace temp macro product_types() as [
    'Shirts', 'Pants', 'Outerwear', 'Accessories', 'Footwear', 'Bags', 'Home Décor', 'Knitwear'
];

create or replace temp macro sizes() as [
    'XS', 'S', 'M', 'L', 'XL', 'XXL'
];

create or replace temp macro colors() as [
    'Black', 'Navy', 'White', 'Heather Grey', 'Olive', 'Rust', 'Sand', 'Burgundy'
];

create or replace temp macro tag_words() as [
    'new', 'bestseller', 'summer', 'winter', 'gift', 'organic', 'Limited Edition', 'Sale'
];

create or replace temp macro cancel_reasons() as [
    'customer', 'fraud', 'inventory', 'declined', 'other'
];

create or replace temp macro collection_titles() as [
    'Women', 'Men', 'New Arrivals', 'Sale', 'Outlet', 'Home & Living', 'Accessories',
    'Gifts Under $50', 'Best Sellers', 'Summer "Essentials"', 'Café Collection', 'Archive'
];

-- Shipping methods: title, code and price at the same position.
create or replace temp macro shipping_titles() as [
    'Standard Shipping', 'UPS Ground', 'USPS Priority Mail', 'FedEx 2Day', 'Free Shipping',
    'Express, Next Day'
];

create or replace temp macro shipping_codes() as [
    'STANDARD', 'UPS_GROUND', 'USPS_PRIORITY', 'FEDEX_2DAY', 'FREE', 'EXPRESS'
];

create or replace temp macro shipping_prices() as [
    5.99, 9.99, 8.50, 19.99, 0.00, 24.99
];
